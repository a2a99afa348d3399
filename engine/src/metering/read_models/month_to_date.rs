//! A customer's month so far (the portal's live view): usage from the start of its current
//! billing month (in its timezone) to now, and where the month is heading.
//!
//! Readings where the spec is silent, as an auditor would read them:
//! - energy is projected linearly: `kWh so far × month length / time elapsed`;
//! - the 95th is not additive: its projection is the 95th so far (the figure a month of the same
//!   traffic would bill), and the projected overage is that against the plan's commitment;
//! - everything is computed at request time from the materialised buckets and the raw energy
//!   readings, so it includes every reading acknowledged before the request.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::Charge;
use crate::id::CustomerId;
use crate::metering::usage::{Quantity, Sources, Usage, UsageError, customer_usage};
use crate::period::BillingPeriod;
use crate::time::{Interval, Timestamp};

/// The month so far.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthToDate {
    /// The billing period (`YYYY-MM`, customer's timezone).
    pub period: String,
    /// When it was computed.
    pub now: Timestamp,
    /// The period's end.
    pub period_end: Timestamp,
    /// Usage from the period's start to now.
    pub usage: Usage,
    /// Month-end projections.
    pub projected: Projection,
}

/// Where the month is heading.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Projection {
    /// IT energy at month end, kWh.
    pub it_kwh: Quantity,
    /// Facility energy at month end, kWh.
    pub facility_kwh: Quantity,
    /// The 95th at month end (the 95th so far), Mbps.
    pub p95_mbps: Quantity,
    /// The plan's committed bandwidth, Mbps (when the plan has a bandwidth charge).
    pub commit_mbps: Option<Quantity>,
    /// The 95th above the commitment, Mbps.
    pub overage_mbps: Option<Quantity>,
}

/// The customer's month to date at `now`.
pub fn month_to_date(src: &Sources<'_>, customer: &CustomerId, now: Timestamp) -> Result<MonthToDate, UsageError> {
    let c = src.inventory.customers.get(customer).ok_or_else(|| UsageError::UnknownCustomer(customer.to_string()))?;
    let period = BillingPeriod::containing(now, c.billing_timezone);
    let whole = period.interval(c.billing_timezone)?;
    // At least 1 ns, so the window is never empty (now is the period's first instant).
    let end = Timestamp::from_nanos(now.as_nanos().max(whole.from.as_nanos() + 1));
    let so_far = Interval { from: whole.from, to: Some(end) };
    let usage = customer_usage(src, customer, &so_far)?;
    let elapsed = Decimal::from(so_far.end().as_nanos() - so_far.from.as_nanos());
    let length = Decimal::from(whole.end().as_nanos() - whole.from.as_nanos());
    let scale = if elapsed.is_zero() { Decimal::ONE } else { length / elapsed };
    let commit = src
        .inventory
        .services
        .values()
        .filter(|s| &s.customer == customer)
        .filter_map(|s| src.inventory.rate_plans.get(&s.plan))
        .flat_map(|p| p.charges.iter())
        .find_map(|ch| match ch {
            Charge::BandwidthP95 { commit_mbps, .. } => Some(*commit_mbps),
            _ => None,
        });
    let p95 = usage.bandwidth.p95_mbps.0;
    Ok(MonthToDate {
        period: period.to_string(),
        now,
        period_end: whole.end(),
        projected: Projection {
            it_kwh: Quantity(usage.energy.it_kwh.0 * scale),
            facility_kwh: Quantity(usage.energy.facility_kwh.0 * scale),
            p95_mbps: Quantity(p95),
            commit_mbps: commit.map(Quantity),
            overage_mbps: commit.map(|c| Quantity((p95 - c).max(Decimal::ZERO))),
        },
        usage,
    })
}
