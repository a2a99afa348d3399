//! Pricing one service's measurements under its plan: each charge of the plan, in the plan's
//! order, becomes lines itemised to the rack stay, outlet, ticket or service they bill.
//!
//! Readings where the spec is silent, as an auditor would take them:
//! - Rack rent bills each stay of a rack at a site as its own line (a rack moved mid-month shows
//!   both locations), prorated by seconds.
//! - Commitment fees (power, bandwidth) and recurring items prorate by the service's span; the
//!   committed Mbps itself is not prorated (the 95th only ranks buckets while assigned).
//! - An overage line appears only when there is overage; the commitment line's evidence always
//!   shows the computation.
//! - A ticket bills in the period its work starts in; its minutes are rounded up to the
//!   increment, then raised to the minimum.

use rust_decimal::Decimal;

use super::line::{Evidence, Item, Line, Proration, RatedLine};
use super::proration::Share;
use crate::domain::{Charge, Currency, CurrencyMismatch, EnergyBasis, Money, RatePlan, Ticket};
use crate::metering::meter::{Outage, ServiceMeter, length_ns};
use crate::period::BillingPeriod;
use crate::time::{Interval, Timestamp};

const NS_PER_MINUTE: i128 = 60_000_000_000;

fn seconds(ns: i128) -> Decimal {
    Decimal::from_i128_with_scale(ns, 9).normalize()
}

fn proration(intervals: Vec<Interval>, period: &Interval) -> Proration {
    let seconds_assigned = seconds(length_ns(&intervals));
    Proration { intervals, seconds_assigned, seconds_in_period: seconds(length_ns(std::slice::from_ref(period))) }
}

impl Proration {
    /// The billed fraction of the month (exactly 1 for a whole month), as
    /// [`Share::months`] computes it.
    pub fn months(&self) -> Decimal {
        Share { seconds_assigned: self.seconds_assigned, seconds_in_period: self.seconds_in_period }.months()
    }
}

fn date(t: Timestamp) -> String {
    t.to_datetime().format("%Y-%m-%d %H:%M").to_string()
}

fn when(iv: &Interval, period: &Interval) -> String {
    if iv == period { String::new() } else { format!(", {} to {}", date(iv.from), date(iv.end())) }
}

/// What rating needs besides the meter.
pub struct Context<'a> {
    /// The plan.
    pub plan: &'a RatePlan,
    /// The customer's currency (the plan's, validation ensures).
    pub currency: Currency,
    /// The service's tickets (all of them; those starting in the period bill).
    pub tickets: Vec<&'a Ticket>,
    /// The start of the service's first assignment (one-off charges bill in its period).
    pub first_assignment: Option<Timestamp>,
    /// The previous month, for SLA credits (plans with an `sla_credit` charge).
    pub previous: Option<PreviousMonth>,
}

/// What an SLA credit is computed from: the previous month's outages and recurring lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousMonth {
    /// The month.
    pub period: BillingPeriod,
    /// The service's outages in it.
    pub outages: Vec<Outage>,
    /// Its recurring lines (unit `month`): the credit's base.
    pub recurring: Vec<Line>,
}

/// Every line of one service for the metered period. Fails only when the previous month's
/// lines are not in the context's currency (an SLA credit cannot take a share of them).
pub fn rate_service(m: &ServiceMeter, ctx: &Context<'_>) -> Result<Vec<RatedLine>, CurrencyMismatch> {
    let mut rater = Rater {
        m,
        ctx,
        service: Some(m.service.to_string()),
        span: proration(m.span.clone(), &m.period),
        out: Vec::new(),
    };
    for charge in &ctx.plan.charges {
        rater.charge(charge)?;
    }
    Ok(rater.out)
}

/// One service's rating in progress: the lines so far, and what every charge shares.
struct Rater<'a, 'c> {
    m: &'a ServiceMeter,
    ctx: &'a Context<'c>,
    service: Option<String>,
    /// The service's span in the period, prorated.
    span: Proration,
    out: Vec<RatedLine>,
}

impl Rater<'_, '_> {
    fn item(&self, description: String, charge_type: &'static str, resource: Option<String>) -> Item {
        Item { description, charge_type, service: self.service.clone(), resource }
    }

    fn charge(&mut self, charge: &Charge) -> Result<(), CurrencyMismatch> {
        let ty = charge.type_name();
        match charge {
            Charge::RackRent { price_per_month } => self.rack_rent(ty, price_per_month),
            Charge::Energy { price_per_kwh, basis, .. } => self.energy(ty, price_per_kwh, basis),
            Charge::CommittedPower { committed_kw, price_per_month, overage_per_kwh } => {
                self.committed_power(ty, committed_kw, price_per_month, overage_per_kwh)
            }
            Charge::BandwidthP95 { commit_mbps, price_per_month, overage_per_mbps, .. } => {
                self.bandwidth_p95(ty, commit_mbps, price_per_month, overage_per_mbps)
            }
            Charge::RemoteHands { price_per_hour, increment_minutes, minimum_minutes } => {
                self.remote_hands(ty, price_per_hour, increment_minutes, minimum_minutes)
            }
            Charge::CrossConnect { description, price_per_month, quantity } => {
                self.cross_connect(ty, description, price_per_month, quantity)
            }
            Charge::Recurring { description, price_per_month, quantity } => {
                self.recurring(ty, description, price_per_month, quantity)
            }
            Charge::SlaCredit { threshold_minutes, credit_percent_per_hour, max_credit_percent } => {
                return self.sla_credit(ty, threshold_minutes, credit_percent_per_hour, max_credit_percent);
            }
            Charge::OneOff { description, price } => self.one_off(ty, description, price),
        }
        Ok(())
    }

    fn rack_rent(&mut self, ty: &'static str, price_per_month: &Decimal) {
        for stay in &self.m.racks {
            let p = proration(vec![stay.interval], &self.m.period);
            let at = stay.site.as_ref().map_or_else(|| "no site".to_owned(), |s| s.to_string());
            let text = format!("Rack rent {} ({at}){}", stay.rack, when(&stay.interval, &self.m.period));
            let line = Line::priced(
                self.item(text, ty, Some(stay.rack.to_string())),
                p.months(),
                "month",
                *price_per_month,
                self.ctx.currency,
            );
            self.out.push(RatedLine { line, evidence: Evidence::RackRent { stay: stay.clone(), proration: p } });
        }
    }

    fn energy(&mut self, ty: &'static str, price_per_kwh: &Decimal, basis: &EnergyBasis) {
        for o in &self.m.outlets {
            let (kwh, label) = match basis {
                EnergyBasis::It => (o.it_kwh, "IT"),
                EnergyBasis::Facility => (o.facility_kwh, "facility"),
            };
            let text = format!("Energy {} ({label} kWh)", o.outlet);
            let line = Line::priced(
                self.item(text, ty, Some(o.outlet.clone())),
                kwh,
                "kWh",
                *price_per_kwh,
                self.ctx.currency,
            );
            self.out.push(RatedLine { line, evidence: Evidence::Energy { basis: basis.as_str(), outlet: o.clone() } });
        }
    }

    fn committed_power(
        &mut self,
        ty: &'static str,
        committed_kw: &Decimal,
        price_per_month: &Decimal,
        overage_per_kwh: &Decimal,
    ) {
        if self.m.span.is_empty() {
            return;
        }
        let allowance_kwh = (*committed_kw * self.m.power.hours_assigned).normalize();
        let overage_kwh = (self.m.power.it_kwh - allowance_kwh).max(Decimal::ZERO).normalize();
        let ratio = |kw: Decimal| if committed_kw.is_zero() { Decimal::ZERO } else { kw / *committed_kw };
        let evidence = Evidence::CommittedPower {
            committed_kw: *committed_kw,
            proration: self.span.clone(),
            power: self.m.power.clone(),
            allowance_kwh,
            overage_kwh,
            utilisation: ratio(self.m.power.average_kw),
            peak_utilisation: ratio(self.m.power.p95_kw),
        };
        let text = format!("Committed power {} kW{}", committed_kw.normalize(), span_text(&self.span, &self.m.period));
        let fee =
            Line::priced(self.item(text, ty, None), self.span.months(), "month", *price_per_month, self.ctx.currency);
        self.out.push(RatedLine { line: fee, evidence: evidence.clone() });
        if overage_kwh > Decimal::ZERO {
            let text = format!("Committed power overage above {} kW", committed_kw.normalize());
            let line = Line::priced(self.item(text, ty, None), overage_kwh, "kWh", *overage_per_kwh, self.ctx.currency);
            self.out.push(RatedLine { line, evidence });
        }
    }

    fn bandwidth_p95(
        &mut self,
        ty: &'static str,
        commit_mbps: &Decimal,
        price_per_month: &Decimal,
        overage_per_mbps: &Decimal,
    ) {
        let Some(p95) = &self.m.bandwidth else { return };
        let overage_mbps = (p95.p95_mbps - *commit_mbps).max(Decimal::ZERO);
        let evidence = Evidence::Bandwidth {
            commit_mbps: *commit_mbps,
            proration: self.span.clone(),
            overage_mbps,
            p95: p95.clone(),
        };
        let c = commit_mbps.normalize();
        let text = format!("Bandwidth commit {c} Mbps, 95th percentile{}", span_text(&self.span, &self.m.period));
        let fee =
            Line::priced(self.item(text, ty, None), self.span.months(), "month", *price_per_month, self.ctx.currency);
        self.out.push(RatedLine { line: fee, evidence: evidence.clone() });
        if overage_mbps > Decimal::ZERO {
            let text = format!("Bandwidth overage above {c} Mbps (95th percentile)");
            let line =
                Line::priced(self.item(text, ty, None), overage_mbps, "Mbps", *overage_per_mbps, self.ctx.currency);
            self.out.push(RatedLine { line, evidence });
        }
    }

    fn remote_hands(
        &mut self,
        ty: &'static str,
        price_per_hour: &Decimal,
        increment_minutes: &u32,
        minimum_minutes: &u32,
    ) {
        let mut tickets: Vec<&&Ticket> =
            self.ctx.tickets.iter().filter(|t| self.m.period.contains(t.work.from)).collect();
        tickets.sort_by(|a, b| (a.work.from, &a.id).cmp(&(b.work.from, &b.id)));
        for t in tickets {
            let worked_ns = length_ns(std::slice::from_ref(&t.work));
            let inc = i128::from((*increment_minutes).max(1));
            let steps = (worked_ns.max(0) + inc * NS_PER_MINUTE - 1) / (inc * NS_PER_MINUTE);
            let billed = (steps * inc).max(i128::from(*minimum_minutes));
            let billed_minutes = u64::try_from(billed).unwrap_or(u64::MAX);
            let text = format!("Remote hands {}: {}", t.id, t.description);
            let at = t.asset.as_ref().map(|a| a.to_string()).or_else(|| t.rack.as_ref().map(|r| r.to_string()));
            let hours = Decimal::from(billed_minutes) / Decimal::from(60);
            let line = Line::priced(self.item(text, ty, at), hours, "hour", *price_per_hour, self.ctx.currency);
            let evidence = Evidence::RemoteHands {
                ticket: t.id.clone(),
                rack: t.rack.clone(),
                asset: t.asset.clone(),
                work: t.work,
                worked_minutes: seconds(worked_ns) / Decimal::from(60),
                billed_minutes,
                increment_minutes: *increment_minutes,
                minimum_minutes: *minimum_minutes,
            };
            self.out.push(RatedLine { line, evidence });
        }
    }

    fn cross_connect(
        &mut self,
        ty: &'static str,
        description: &Option<String>,
        price_per_month: &Decimal,
        quantity: &Decimal,
    ) {
        let what = description.as_deref().unwrap_or("cross-connect");
        self.monthly(ty, &format!("Cross-connect: {what}"), price_per_month, quantity);
    }

    fn recurring(&mut self, ty: &'static str, description: &str, price_per_month: &Decimal, quantity: &Decimal) {
        self.monthly(ty, description, price_per_month, quantity);
    }

    /// `quantity` units of a monthly item, prorated by the service's span.
    fn monthly(&mut self, ty: &'static str, what: &str, price_per_month: &Decimal, quantity: &Decimal) {
        if self.m.span.is_empty() {
            return;
        }
        let text = format!("{what} × {}{}", quantity.normalize(), span_text(&self.span, &self.m.period));
        let line = Line::priced(
            self.item(text, ty, None),
            *quantity * self.span.months(),
            "month",
            *price_per_month,
            self.ctx.currency,
        );
        self.out
            .push(RatedLine { line, evidence: Evidence::Recurring { units: *quantity, proration: self.span.clone() } });
    }

    fn sla_credit(
        &mut self,
        ty: &'static str,
        threshold_minutes: &u32,
        credit_percent_per_hour: &Decimal,
        max_credit_percent: &Decimal,
    ) -> Result<(), CurrencyMismatch> {
        let Some(prev) = &self.ctx.previous else { return Ok(()) };
        let outage_minutes: Decimal = prev.outages.iter().map(|o| o.minutes).sum();
        let started_hours = (outage_minutes / Decimal::from(60)).ceil();
        let credit_percent = (started_hours * *credit_percent_per_hour).min(*max_credit_percent);
        let base = Money::sum(self.ctx.currency, prev.recurring.iter().map(|l| l.amount))?;
        if outage_minutes.is_zero() || credit_percent.is_zero() || base.is_zero() {
            return Ok(());
        }
        let text = format!(
            "SLA credit for {}: {} min of outage ({}% per started hour, at most {}%)",
            prev.period,
            outage_minutes.round_dp(1).normalize(),
            credit_percent_per_hour.normalize(),
            max_credit_percent.normalize()
        );
        let fraction = credit_percent / Decimal::ONE_HUNDRED;
        let line = Line::priced(self.item(text, ty, None), fraction, "credit", -base.amount(), self.ctx.currency);
        let evidence = Evidence::SlaCredit {
            period: prev.period,
            threshold_minutes: *threshold_minutes,
            outages: prev.outages.clone(),
            outage_minutes,
            started_hours,
            credit_percent,
            base_lines: prev.recurring.iter().map(|l| (l.description.clone(), l.amount)).collect(),
            base,
        };
        self.out.push(RatedLine { line, evidence });
        Ok(())
    }

    fn one_off(&mut self, ty: &'static str, description: &str, price: &Decimal) {
        let Some(first) = self.ctx.first_assignment.filter(|t| self.m.period.contains(*t)) else { return };
        let line =
            Line::priced(self.item(description.to_owned(), ty, None), Decimal::ONE, "item", *price, self.ctx.currency);
        self.out.push(RatedLine { line, evidence: Evidence::OneOff { first_assignment: first } });
    }
}

fn span_text(p: &Proration, period: &Interval) -> String {
    match p.intervals.as_slice() {
        [one] => when(one, period),
        [] => String::new(),
        many => format!(", {} intervals", many.len()),
    }
}
