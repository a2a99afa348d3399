//! Invoice lines and the evidence behind each.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::{Currency, Money};
use crate::id::{AssetId, RackId, TicketId};
use crate::metering::meter::{BandwidthEvidence, Outage, OutletEnergy, PowerProfile, RackStay};
use crate::period::BillingPeriod;
use crate::time::{Interval, Timestamp};

/// One line of an invoice (`contract.md`): `amount = quantity × unit_price`, rounded once to the
/// currency's minor unit, half away from zero. `quantity` is exact (every digit the amount was
/// computed from), so anyone can recompute the amount from the line alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Line {
    /// Position on the invoice, from 1.
    pub n: u32,
    /// What it is.
    pub description: String,
    /// The `type` of the rate-plan charge it comes from (a commitment and its overage both).
    pub charge_type: String,
    /// The service it bills.
    pub service: Option<String>,
    /// The rack, outlet, port, asset or ticket it is itemised to.
    pub resource: Option<String>,
    /// Quantity, exact.
    pub quantity: Decimal,
    /// Unit of the quantity (`month`, `kWh`, `Mbps`, `hour`, `item`).
    pub unit: String,
    /// Price per unit, in the invoice's currency.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub unit_price: Money,
    /// `quantity × unit_price`, rounded once.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub amount: Money,
}

/// What a line bills, before its price.
#[derive(Debug, Clone)]
pub struct Item {
    /// Invoice text.
    pub description: String,
    /// The charge's `type`.
    pub charge_type: &'static str,
    /// The service.
    pub service: Option<String>,
    /// What it is itemised to.
    pub resource: Option<String>,
}

impl Line {
    /// A line with its amount computed and rounded once; `n` is set when the invoice is assembled.
    pub fn priced(item: Item, quantity: Decimal, unit: &str, unit_price: Decimal, currency: Currency) -> Self {
        Self {
            n: 0,
            description: item.description,
            charge_type: item.charge_type.to_owned(),
            service: item.service,
            resource: item.resource,
            quantity: quantity.normalize(),
            unit: unit.to_owned(),
            unit_price: Money::new(unit_price, currency),
            amount: Money::rounded(quantity * unit_price, currency),
        }
    }
}

/// A share of a billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proration {
    /// The intervals billed.
    pub intervals: Vec<Interval>,
    /// Seconds billed.
    pub seconds_assigned: Decimal,
    /// Seconds in the period.
    pub seconds_in_period: Decimal,
}

/// What a line is computed from. Serialized as the line's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Rack rent for one stay of a rack at a site.
    RackRent {
        /// The rack, site and interval.
        stay: RackStay,
        /// The share of the month.
        proration: Proration,
    },
    /// Energy of one outlet.
    Energy {
        /// `it_kwh` or `facility_kwh`.
        basis: &'static str,
        /// The outlet's energy, sources, holes and factors.
        outlet: OutletEnergy,
    },
    /// A power commitment (the fee line and its overage line).
    CommittedPower {
        /// Committed kW.
        committed_kw: Decimal,
        /// The share of the month committed (the service's span).
        proration: Proration,
        /// Power over the span.
        power: PowerProfile,
        /// `committed_kw × hours_assigned`, kWh.
        allowance_kwh: Decimal,
        /// `max(0, it_kwh − allowance_kwh)`.
        overage_kwh: Decimal,
        /// `average_kw / committed_kw`.
        utilisation: Decimal,
        /// `p95_kw / committed_kw`.
        peak_utilisation: Decimal,
    },
    /// 95th-percentile bandwidth (the fee line and its overage line).
    Bandwidth {
        /// Committed Mbps.
        commit_mbps: Decimal,
        /// The share of the month the commitment fee covers (the service's span).
        proration: Proration,
        /// `max(0, p95_mbps − commit_mbps)`.
        overage_mbps: Decimal,
        /// The 95th and its evidence.
        p95: BandwidthEvidence,
    },
    /// A remote-hands ticket.
    RemoteHands {
        /// The ticket.
        ticket: TicketId,
        /// The rack the work was at.
        rack: Option<RackId>,
        /// The asset the work was on.
        asset: Option<AssetId>,
        /// When the work was done.
        work: Interval,
        /// Minutes worked (exact).
        worked_minutes: Decimal,
        /// Minutes billed: worked rounded up to the increment, at least the minimum.
        billed_minutes: u64,
        /// The plan's increment.
        increment_minutes: u32,
        /// The plan's minimum.
        minimum_minutes: u32,
    },
    /// A recurring item (cross-connect or other).
    Recurring {
        /// Units.
        units: Decimal,
        /// The share of the month (the service's span).
        proration: Proration,
    },
    /// A one-off charge, billed in the period of the service's first assignment.
    OneOff {
        /// The service's first assignment start.
        first_assignment: Timestamp,
    },
    /// An SLA credit for the previous month's outages.
    SlaCredit {
        /// The month of the outages.
        period: BillingPeriod,
        /// The plan's threshold.
        threshold_minutes: u32,
        /// The outages (each longer than the threshold).
        outages: Vec<Outage>,
        /// Their total, minutes.
        outage_minutes: Decimal,
        /// Started hours of outage.
        started_hours: Decimal,
        /// `min(max, started_hours × per_hour)`, percent.
        credit_percent: Decimal,
        /// That month's recurring lines of the service: `(description, amount)`.
        base_lines: Vec<(String, Money)>,
        /// Their sum: what the percentage is of.
        base: Money,
    },
}

/// A priced line with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedLine {
    /// The line.
    pub line: Line,
    /// Its evidence.
    pub evidence: Evidence,
}
