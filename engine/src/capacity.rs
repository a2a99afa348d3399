//! Committed against used, per service, and stranded capacity per rack, for one billing period:
//! over-use is not billed by a commitment (it is the overage's job), under-use is a sales signal;
//! power budget not committed, and commitment not used, is capacity the operator cannot sell.
//!
//! Readings where the spec is silent, as an auditor would take them:
//! - A service's commitment counts against its racks evenly (a 4 kW commitment over two racks
//!   is 2 kW each), for the racks it had during the period.
//! - A rack's measured power is what the outlets of its PDUs delivered to services during the
//!   period, as an average kW over the period (unassigned outlets are not metered here).
//! - `over` means measured average above the commitment, `under` below half of it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::Charge;
use crate::id::{CustomerId, PduId, RackId, ServiceId};
use crate::metering::bucket_table::BucketError;
use crate::metering::meter::Meter;
use crate::metering::usage::Sources;
use crate::period::BillingPeriod;

/// One service's commitments and use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceCommitment {
    /// The customer.
    pub customer: CustomerId,
    /// The service.
    pub service: ServiceId,
    /// Committed kW (none without a `committed_power` charge).
    pub committed_kw: Option<Decimal>,
    /// Average kW over the service's span.
    pub average_kw: Decimal,
    /// 95th percentile of 5-minute average kW.
    pub p95_kw: Decimal,
    /// `average_kw / committed_kw`.
    pub utilisation: Option<Decimal>,
    /// `over`, `under` (below half), `within` or `none` (no commitment).
    pub power: &'static str,
    /// Committed Mbps (none without a `bandwidth_p95` charge).
    pub commit_mbps: Option<Decimal>,
    /// The billed 95th, Mbps.
    pub p95_mbps: Option<Decimal>,
    /// `over`, `under`, `within` or `none`.
    pub bandwidth: &'static str,
}

/// One rack's capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RackCapacity {
    /// The rack.
    pub rack: RackId,
    /// Its power budget, kW.
    pub power_budget_kw: Decimal,
    /// Commitments against it, kW.
    pub committed_kw: Decimal,
    /// Measured average, kW.
    pub measured_kw: Decimal,
    /// `power_budget_kw − committed_kw`: budget not sold.
    pub uncommitted_kw: Decimal,
    /// `committed_kw − measured_kw`: sold, not drawn.
    pub unused_commitment_kw: Decimal,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// `YYYY-MM`.
    pub period: String,
    /// Per service.
    pub services: Vec<ServiceCommitment>,
    /// Per rack.
    pub racks: Vec<RackCapacity>,
}

fn verdict(used: Decimal, committed: Option<Decimal>) -> &'static str {
    match committed {
        None => "none",
        Some(c) if used > c => "over",
        Some(c) if used * Decimal::TWO < c => "under",
        Some(_) => "within",
    }
}

/// Commitments and capacity in `period` (each customer's month in its timezone).
pub fn report(src: &Sources<'_>, period: BillingPeriod) -> Result<Report, BucketError> {
    let inv = src.inventory;
    let meter = Meter::new(src);
    let mut services = Vec::new();
    let mut racks: BTreeMap<RackId, RackCapacity> = inv
        .racks
        .values()
        .map(|r| {
            let cap = RackCapacity {
                rack: r.id.clone(),
                power_budget_kw: r.power_budget_kw,
                committed_kw: Decimal::ZERO,
                measured_kw: Decimal::ZERO,
                uncommitted_kw: Decimal::ZERO,
                unused_commitment_kw: Decimal::ZERO,
            };
            (r.id.clone(), cap)
        })
        .collect();
    for service in inv.services.values() {
        let (Some(customer), Some(plan)) = (inv.customers.get(&service.customer), inv.rate_plans.get(&service.plan))
        else {
            continue;
        };
        let Ok(window) = period.interval(customer.billing_timezone) else { continue };
        let m = meter.service(service, plan, &window)?;
        if m.span.is_empty() {
            continue;
        }
        let committed_kw = plan.charges.iter().find_map(|c| match c {
            Charge::CommittedPower { committed_kw, .. } => Some(*committed_kw),
            _ => None,
        });
        let commit_mbps = plan.charges.iter().find_map(|c| match c {
            Charge::BandwidthP95 { commit_mbps, .. } => Some(*commit_mbps),
            _ => None,
        });
        let p95_mbps = m.bandwidth.as_ref().map(|b| b.p95_mbps);
        services.push(ServiceCommitment {
            customer: service.customer.clone(),
            service: service.id.clone(),
            committed_kw,
            average_kw: m.power.average_kw.round_dp(6).normalize(),
            p95_kw: m.power.p95_kw,
            utilisation: committed_kw
                .filter(|c| !c.is_zero())
                .map(|c| (m.power.average_kw / c).round_dp(6).normalize()),
            power: verdict(m.power.average_kw, committed_kw),
            commit_mbps,
            p95_mbps: p95_mbps.map(|p| p.round_dp(6).normalize()),
            bandwidth: if p95_mbps.is_none() { "none" } else { verdict(p95_mbps.unwrap_or_default(), commit_mbps) },
        });
        // Commitments split evenly over the service's racks; measured power by the outlets' racks.
        let mut own: Vec<&RackId> = m.racks.iter().map(|s| &s.rack).collect();
        own.sort();
        own.dedup();
        if let Some(c) = committed_kw.filter(|_| !own.is_empty()) {
            let share = c / Decimal::from(own.len());
            for r in own {
                if let Some(cap) = racks.get_mut(r) {
                    cap.committed_kw += share;
                }
            }
        }
        let hours = Decimal::from_i128_with_scale(crate::metering::meter::length_ns(std::slice::from_ref(&window)), 9)
            / Decimal::from(3600);
        for o in &m.outlets {
            let pdu = o.outlet.split_once('/').and_then(|(pdu, _)| PduId::new(pdu).ok());
            let rack = pdu.and_then(|p| inv.pdus.get(&p)).and_then(|p| p.rack.as_ref());
            if let Some(cap) = rack.and_then(|r| racks.get_mut(r))
                && !hours.is_zero()
            {
                cap.measured_kw += o.it_kwh / hours;
            }
        }
    }
    let racks = racks
        .into_values()
        .map(|mut r| {
            r.committed_kw = r.committed_kw.round_dp(6).normalize();
            r.measured_kw = r.measured_kw.round_dp(6).normalize();
            r.uncommitted_kw = r.power_budget_kw - r.committed_kw;
            r.unused_commitment_kw = r.committed_kw - r.measured_kw;
            r
        })
        .collect();
    Ok(Report { period: period.to_string(), services, racks })
}
