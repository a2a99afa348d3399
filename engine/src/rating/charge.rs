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
use crate::domain::{Charge, Currency, EnergyBasis, RatePlan, Ticket};
use crate::metering::meter::{Outage, ServiceMeter, length_ns};
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
    /// `YYYY-MM`.
    pub period: String,
    /// The service's outages in it.
    pub outages: Vec<Outage>,
    /// Its recurring lines (unit `month`): the credit's base.
    pub recurring: Vec<Line>,
}

/// Every line of one service for the metered period.
pub fn rate_service(m: &ServiceMeter, ctx: &Context<'_>) -> Vec<RatedLine> {
    let mut out = Vec::new();
    let service = Some(m.service.to_string());
    let item = |description: String, charge_type: &'static str, resource: Option<String>| Item {
        description,
        charge_type,
        service: service.clone(),
        resource,
    };
    let cur = ctx.currency;
    let span = proration(m.span.clone(), &m.period);
    for charge in &ctx.plan.charges {
        let ty = charge.type_name();
        match charge {
            Charge::RackRent { price_per_month } => {
                for stay in &m.racks {
                    let p = proration(vec![stay.interval], &m.period);
                    let at = stay.site.as_ref().map_or_else(|| "no site".to_owned(), |s| s.to_string());
                    let text = format!("Rack rent {} ({at}){}", stay.rack, when(&stay.interval, &m.period));
                    let line = Line::priced(
                        item(text, ty, Some(stay.rack.to_string())),
                        p.months(),
                        "month",
                        *price_per_month,
                        cur,
                    );
                    out.push(RatedLine { line, evidence: Evidence::RackRent { stay: stay.clone(), proration: p } });
                }
            }
            Charge::Energy { price_per_kwh, basis, .. } => {
                for o in &m.outlets {
                    let (kwh, label) = match basis {
                        EnergyBasis::It => (o.it_kwh, "IT"),
                        EnergyBasis::Facility => (o.facility_kwh, "facility"),
                    };
                    let text = format!("Energy {} ({label} kWh)", o.outlet);
                    let line = Line::priced(item(text, ty, Some(o.outlet.clone())), kwh, "kWh", *price_per_kwh, cur);
                    out.push(RatedLine {
                        line,
                        evidence: Evidence::Energy { basis: basis.as_str(), outlet: o.clone() },
                    });
                }
            }
            Charge::CommittedPower { committed_kw, price_per_month, overage_per_kwh } => {
                if m.span.is_empty() {
                    continue;
                }
                let allowance_kwh = (*committed_kw * m.power.hours_assigned).normalize();
                let overage_kwh = (m.power.it_kwh - allowance_kwh).max(Decimal::ZERO).normalize();
                let ratio = |kw: Decimal| if committed_kw.is_zero() { Decimal::ZERO } else { kw / *committed_kw };
                let evidence = Evidence::CommittedPower {
                    committed_kw: *committed_kw,
                    proration: span.clone(),
                    power: m.power.clone(),
                    allowance_kwh,
                    overage_kwh,
                    utilisation: ratio(m.power.average_kw),
                    peak_utilisation: ratio(m.power.p95_kw),
                };
                let text = format!("Committed power {} kW{}", committed_kw.normalize(), span_text(&span, &m.period));
                let fee = Line::priced(item(text, ty, None), span.months(), "month", *price_per_month, cur);
                out.push(RatedLine { line: fee, evidence: evidence.clone() });
                if overage_kwh > Decimal::ZERO {
                    let text = format!("Committed power overage above {} kW", committed_kw.normalize());
                    let line = Line::priced(item(text, ty, None), overage_kwh, "kWh", *overage_per_kwh, cur);
                    out.push(RatedLine { line, evidence });
                }
            }
            Charge::BandwidthP95 { commit_mbps, price_per_month, overage_per_mbps, .. } => {
                let Some(p95) = &m.bandwidth else { continue };
                let overage_mbps = (p95.p95_mbps - *commit_mbps).max(Decimal::ZERO);
                let evidence = Evidence::Bandwidth {
                    commit_mbps: *commit_mbps,
                    proration: span.clone(),
                    overage_mbps,
                    p95: p95.clone(),
                };
                let c = commit_mbps.normalize();
                let text = format!("Bandwidth commit {c} Mbps, 95th percentile{}", span_text(&span, &m.period));
                let fee = Line::priced(item(text, ty, None), span.months(), "month", *price_per_month, cur);
                out.push(RatedLine { line: fee, evidence: evidence.clone() });
                if overage_mbps > Decimal::ZERO {
                    let text = format!("Bandwidth overage above {c} Mbps (95th percentile)");
                    let line = Line::priced(item(text, ty, None), overage_mbps, "Mbps", *overage_per_mbps, cur);
                    out.push(RatedLine { line, evidence });
                }
            }
            Charge::RemoteHands { price_per_hour, increment_minutes, minimum_minutes } => {
                let mut tickets: Vec<&&Ticket> =
                    ctx.tickets.iter().filter(|t| m.period.contains(t.work.from)).collect();
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
                    let line = Line::priced(item(text, ty, at), hours, "hour", *price_per_hour, cur);
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
                    out.push(RatedLine { line, evidence });
                }
            }
            Charge::CrossConnect { description, price_per_month, quantity } => {
                if m.span.is_empty() {
                    continue;
                }
                let what = description.as_deref().unwrap_or("cross-connect");
                let text = format!("Cross-connect: {what} × {}{}", quantity.normalize(), span_text(&span, &m.period));
                let line =
                    Line::priced(item(text, ty, None), *quantity * span.months(), "month", *price_per_month, cur);
                out.push(RatedLine {
                    line,
                    evidence: Evidence::Recurring { units: *quantity, proration: span.clone() },
                });
            }
            Charge::Recurring { description, price_per_month, quantity } => {
                if m.span.is_empty() {
                    continue;
                }
                let text = format!("{description} × {}{}", quantity.normalize(), span_text(&span, &m.period));
                let line =
                    Line::priced(item(text, ty, None), *quantity * span.months(), "month", *price_per_month, cur);
                out.push(RatedLine {
                    line,
                    evidence: Evidence::Recurring { units: *quantity, proration: span.clone() },
                });
            }
            Charge::SlaCredit { threshold_minutes, credit_percent_per_hour, max_credit_percent } => {
                let Some(prev) = &ctx.previous else { continue };
                let outage_minutes: Decimal = prev.outages.iter().map(|o| o.minutes).sum();
                let started_hours = (outage_minutes / Decimal::from(60)).ceil();
                let credit_percent = (started_hours * *credit_percent_per_hour).min(*max_credit_percent);
                let base: Decimal = prev.recurring.iter().map(|l| l.amount).sum();
                if outage_minutes.is_zero() || credit_percent.is_zero() || base.is_zero() {
                    continue;
                }
                let text = format!(
                    "SLA credit for {}: {} min of outage ({}% per started hour, at most {}%)",
                    prev.period,
                    outage_minutes.round_dp(1).normalize(),
                    credit_percent_per_hour.normalize(),
                    max_credit_percent.normalize()
                );
                let fraction = credit_percent / Decimal::ONE_HUNDRED;
                let line = Line::priced(item(text, ty, None), fraction, "credit", -base, cur);
                let evidence = Evidence::SlaCredit {
                    period: prev.period.clone(),
                    threshold_minutes: *threshold_minutes,
                    outages: prev.outages.clone(),
                    outage_minutes,
                    started_hours,
                    credit_percent,
                    base_lines: prev.recurring.iter().map(|l| (l.description.clone(), l.amount)).collect(),
                    base,
                };
                out.push(RatedLine { line, evidence });
            }
            Charge::OneOff { description, price } => {
                let Some(first) = ctx.first_assignment.filter(|t| m.period.contains(*t)) else { continue };
                let line = Line::priced(item(description.clone(), ty, None), Decimal::ONE, "item", *price, cur);
                out.push(RatedLine { line, evidence: Evidence::OneOff { first_assignment: first } });
            }
        }
    }
    out
}

fn span_text(p: &Proration, period: &Interval) -> String {
    match p.intervals.as_slice() {
        [one] => when(one, period),
        [] => String::new(),
        many => format!(", {} intervals", many.len()),
    }
}
