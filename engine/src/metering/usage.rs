//! A customer's usage for a window (`contract.md`'s usage object): what its services' resources
//! measured while assigned to them (metering.md §7), clipped by service end and asset life.
//!
//! - Ports: 95th percentile from the materialised bucket table; a bucket counts for a port when
//!   its start lies inside one of the port's assignments to the customer and inside the window.
//! - Outlets: energy from raw readings (energy counter, else trapezoid of power), split at
//!   assignment and window boundaries to the nanosecond by time overlap.
//! - Facility energy and carbon hour by hour with the PUE of the site the outlet's rack stood in.
//!
//! Readings where the spec is silent, as an auditor would read them:
//! - Quantities are shown rounded to 6 decimal places (half away from zero); the full precision
//!   is what rating uses (metering.md §8 rounds once, at a line's amount).
//! - The customer-level `bandwidth` uses the `bandwidth_p95` charge of the customer's first
//!   service (by ID) that has one (the plan's defaults otherwise) over all the customer's ports;
//!   `services` gives each service's own figure under its own plan.
//! - An hour without a grid intensity uses the region's last value before it (else its first
//!   after, else 0) and is counted in `carbon.default_intensity_hours`.
//! - Energy samples are looked for up to a day around the window (a counter delta spanning the
//!   window's edge is split by overlap).

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use super::bandwidth::{self, Flags, P95, PortBuckets};
use super::bucket_table::BucketTable;
use super::carbon;
use super::energy::{self, EnergySample, HoleReason, PowerSample};
use super::factors::Factorbook;
use super::plant::Plant;
use crate::domain::metric;
use crate::domain::{BandwidthMethod, Charge, GapFill, MissingBuckets, Pooling, ResourceRef};
use crate::id::{CustomerId, OutletId, PortId, ServiceId};
use crate::inventory::Inventory;
use crate::metering::bucket_table::BucketError;
use crate::store::buffer::ScanFilter;
use crate::store::reading::{SeriesKey, VALUE_SCALE};
use crate::store::series_set::SeriesSet;
use crate::store::{Store, StoreError};

impl From<StoreError> for UsageError {
    fn from(e: StoreError) -> Self {
        UsageError::Store(e.into())
    }
}
use crate::time::{Interval, Timestamp};

/// Why usage cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// No such customer.
    #[error("unknown customer '{0}'")]
    UnknownCustomer(String),
    /// The store, or the bucket table over it, failed.
    #[error(transparent)]
    Store(#[from] BucketError),
    /// The billing period cannot be formed (out of range).
    #[error(transparent)]
    Period(#[from] crate::period::PeriodError),
}

/// A quantity shown with 6 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quantity(pub Decimal);

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero);
        s.collect_str(&format_args!("{r:.6}"))
    }
}

#[cfg(feature = "openapi")]
string_schema!(Quantity, "Quantity", None, "A quantity as a decimal string with 6 decimal places");

/// Energy totals.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnergyUsage {
    /// Measured energy, kWh.
    pub it_kwh: Quantity,
    /// Energy times PUE, kWh.
    pub facility_kwh: Quantity,
    /// What is not measured: gaps and counter resets (intervals), and reset intervals
    /// estimated from power.
    pub flags: EnergyFlags,
}

/// Energy evidence counts.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnergyFlags {
    /// Power gaps longer than 3 poll intervals (not integrated unless the plan holds the last value).
    pub gaps: u64,
    /// Energy counter resets with no power samples to estimate from (contribute nothing).
    pub resets: u64,
    /// Counter-reset intervals estimated from power samples.
    pub reset_estimated: u64,
}

/// Carbon totals.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CarbonUsage {
    /// kgCO2e, location-based.
    pub kg_co2e: Quantity,
    /// Hours with energy that used a default intensity.
    pub default_intensity_hours: u64,
}

/// A 95th-percentile figure with its evidence.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BandwidthUsage {
    /// How directions combine.
    pub method: &'static str,
    /// How ports combine.
    pub pooling: &'static str,
    /// The billed 95th, Mbps.
    pub p95_mbps: Quantity,
    /// The inbound 95th, Mbps (methods that rank directions separately).
    pub p95_in_mbps: Option<Quantity>,
    /// The outbound 95th, Mbps.
    pub p95_out_mbps: Option<Quantity>,
    /// n: buckets ranked.
    pub samples: usize,
    /// Buckets discarded above the 95th (`n - ceil(0.95 n)`).
    pub discarded: usize,
    /// Start of the bucket holding the billed 95th (pooled only).
    pub p95_bucket: Option<Timestamp>,
    /// Counts of flagged buckets.
    pub flags: Flags,
}

/// One resource's share.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceUsage {
    /// `outlet` or `port`.
    pub kind: &'static str,
    /// `pdu/index` or `switch/ifName`.
    pub id: String,
    /// The service it was assigned to.
    pub service: String,
    /// Outlets: measured energy, kWh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub it_kwh: Option<Quantity>,
    /// Outlets: facility energy, kWh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility_kwh: Option<Quantity>,
    /// Outlets: kgCO2e.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kg_co2e: Option<Quantity>,
    /// Ports: the port's own 95th under the service's method, Mbps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_mbps: Option<Quantity>,
}

/// One service's bandwidth under its plan.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceUsage {
    /// The service.
    pub id: String,
    /// Its 95th, if it has ports.
    pub bandwidth: Option<BandwidthUsage>,
}

/// The usage object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// The customer.
    pub customer: String,
    /// Window start.
    pub from: Timestamp,
    /// Window end (exclusive).
    pub to: Timestamp,
    /// Energy.
    pub energy: EnergyUsage,
    /// Carbon.
    pub carbon: CarbonUsage,
    /// Bandwidth over all the customer's ports.
    pub bandwidth: BandwidthUsage,
    /// Per resource.
    pub resources: Vec<ResourceUsage>,
    /// Per service.
    pub services: Vec<ServiceUsage>,
}

/// Ports with the intervals they were held in.
type HeldPorts = BTreeMap<PortId, Vec<Interval>>;

/// Bandwidth settings of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BandwidthPlan {
    method: BandwidthMethod,
    pooling: Pooling,
    missing: MissingBuckets,
}

fn bandwidth_plan(inv: &Inventory, service: &crate::domain::Service) -> Option<BandwidthPlan> {
    inv.rate_plans.get(&service.plan)?.charges.iter().find_map(|c| match c {
        Charge::BandwidthP95 { method, pooling, missing_buckets, .. } => {
            Some(BandwidthPlan { method: *method, pooling: *pooling, missing: *missing_buckets })
        }
        _ => None,
    })
}

fn gap_fill(inv: &Inventory, service: &crate::domain::Service) -> GapFill {
    inv.rate_plans
        .get(&service.plan)
        .and_then(|p| {
            p.charges.iter().find_map(|c| match c {
                Charge::Energy { gap_fill, .. } => Some(*gap_fill),
                _ => None,
            })
        })
        .unwrap_or_default()
}

/// What usage is computed from.
pub struct Sources<'a> {
    /// The inventory.
    pub inventory: &'a Inventory,
    /// Poll intervals and speeds.
    pub plant: &'a Plant,
    /// Bucket table (settled).
    pub buckets: &'a BucketTable,
    /// The store (raw energy readings).
    pub store: &'a Store,
}

/// Looks up a raw series' samples in `[from, to)`: `(ts, value, uptime)`.
fn raw(
    store: &Store,
    key: &SeriesKey,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(Timestamp, Decimal, Option<u64>)>, StoreError> {
    let Some(id) = store.registry().get(key) else { return Ok(Vec::new()) };
    let rows = store.scan(&ScanFilter {
        series: Some(Arc::new(SeriesSet::from_iter([id.0]))),
        from: Some(from),
        to: Some(to),
    })?;
    Ok((0..rows.len())
        .map(|i| {
            (
                Timestamp::from_nanos(rows.ts[i]),
                Decimal::from_i128_with_scale(rows.value[i], VALUE_SCALE),
                rows.uptime_s[i],
            )
        })
        .collect())
}

const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// How far around a window an outlet's samples are read: a counter delta spanning the window's
/// edge is split by overlap, so the samples just outside count too.
pub fn look_around_ns(poll_ns: i64) -> i64 {
    DAY_NS.max(poll_ns.saturating_mul(4))
}

/// Energy from an outlet's samples: its counter when it has two samples or more, else its power.
pub fn energy_of(power: &[PowerSample], counter: &[EnergySample], poll_ns: i64, gap_fill: GapFill) -> energy::Energy {
    if counter.len() >= 2 { energy::from_counter(counter, power) } else { energy::from_power(power, poll_ns, gap_fill) }
}

/// An outlet's energy pieces around `[from, to)`.
pub fn outlet_energy(
    store: &Store,
    outlet: &OutletId,
    from: Timestamp,
    to: Timestamp,
    poll_ns: i64,
    gap_fill: GapFill,
) -> Result<energy::Energy, StoreError> {
    let look = look_around_ns(poll_ns);
    let (a, b) = (from.minus_ns(look), to.plus_ns(look));
    let key = |m: &str| SeriesKey {
        device: outlet.pdu.as_str().into(),
        resource: outlet.index.to_string().into(),
        metric: m.into(),
    };
    let counter: Vec<EnergySample> = raw(store, &key(metric::ENERGY_WH), a, b)?
        .into_iter()
        .map(|(ts, wh, uptime_s)| EnergySample { ts, wh, uptime_s })
        .collect();
    // Power counts only without a counter or to estimate a counter reset: otherwise it is not
    // read at all (the same energy, half the raw reading).
    let power: Vec<PowerSample> = if counter.len() < 2 || energy::counter_needs_power(&counter) {
        raw(store, &key(metric::POWER_W), a, b)?.into_iter().map(|(ts, watts, _)| PowerSample { ts, watts }).collect()
    } else {
        Vec::new()
    };
    Ok(energy_of(&power, &counter, poll_ns, gap_fill))
}

fn to_bandwidth(p: &P95, plan: BandwidthPlan) -> BandwidthUsage {
    BandwidthUsage {
        method: plan.method.as_str(),
        pooling: plan.pooling.as_str(),
        p95_mbps: Quantity(bandwidth::mbps(p.bytes)),
        p95_in_mbps: p.in_bytes.map(|b| Quantity(bandwidth::mbps(b))),
        p95_out_mbps: p.out_bytes.map(|b| Quantity(bandwidth::mbps(b))),
        samples: p.n,
        discarded: p.discarded,
        p95_bucket: p.bucket,
        flags: p.flags,
    }
}

/// The customer's usage in `window` (which must be closed). Settle the bucket table first.
pub fn customer_usage(src: &Sources<'_>, customer: &CustomerId, window: &Interval) -> Result<Usage, UsageError> {
    usage_and_reach(src, customer, window).map(|(usage, _)| usage)
}

/// What a usage object was computed from, as time ranges `[from, to)`: while nothing in them
/// changes (and the inventory does not), the same computation gives the same object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Raw readings read (the outlets' samples with their look-around); empty without outlets.
    pub raw: (Timestamp, Timestamp),
    /// Port buckets read (by bucket start).
    pub buckets: (Timestamp, Timestamp),
}

/// A customer's energy and carbon so far, and the raw readings' range read for them.
struct Totals {
    energy: EnergyUsage,
    carbon: CarbonUsage,
    raw_reach: (Timestamp, Timestamp),
}

impl Totals {
    /// Adds outlet `o` of `service` over `iv` (inside the window) and returns its row.
    fn add_outlet(
        &mut self,
        src: &Sources<'_>,
        book: &Factorbook<'_>,
        service: &crate::domain::Service,
        o: &crate::id::OutletId,
        iv: &Interval,
    ) -> Result<ResourceUsage, UsageError> {
        let (a, b) = (iv.from, iv.end());
        let poll = src.plant.pdu_poll_ns(&o.pdu);
        let look = look_around_ns(poll);
        self.raw_reach = (self.raw_reach.0.min(a.minus_ns(look)), self.raw_reach.1.max(b.plus_ns(look)));
        let e = outlet_energy(src.store, o, a, b, poll, gap_fill(src.inventory, service))?;
        let f = carbon::footprint(&e, iv, |h| book.factors(book.site_of_outlet(o, h).as_ref(), h));
        for h in e.holes.iter().filter(|h| h.to > a && h.from < b) {
            match h.reason {
                HoleReason::Gap => self.energy.flags.gaps += 1,
                HoleReason::Reset => self.energy.flags.resets += 1,
            }
        }
        self.energy.flags.reset_estimated +=
            e.pieces.iter().filter(|p| p.source == energy::Source::ResetEstimated && p.to > a && p.from < b).count()
                as u64;
        self.energy.it_kwh.0 += f.it_kwh;
        self.energy.facility_kwh.0 += f.facility_kwh;
        self.carbon.kg_co2e.0 += f.kg_co2e;
        self.carbon.default_intensity_hours += f.default_intensity_hours;
        Ok(ResourceUsage {
            kind: "outlet",
            id: o.to_string(),
            service: service.id.to_string(),
            it_kwh: Some(Quantity(f.it_kwh)),
            facility_kwh: Some(Quantity(f.facility_kwh)),
            kg_co2e: Some(Quantity(f.kg_co2e)),
            p95_mbps: None,
        })
    }
}

/// [`customer_usage`], with the ranges it read.
pub fn usage_and_reach(
    src: &Sources<'_>,
    customer: &CustomerId,
    window: &Interval,
) -> Result<(Usage, Reach), UsageError> {
    let inv = src.inventory;
    if !inv.customers.contains_key(customer) {
        return Err(UsageError::UnknownCustomer(customer.to_string()));
    }
    let book = Factorbook::new(inv);
    let mut resources = Vec::new();
    let mut totals = Totals {
        energy: EnergyUsage::default(),
        carbon: CarbonUsage::default(),
        raw_reach: (Timestamp::MAX, Timestamp::MIN),
    };
    // Ports of each service, by service.
    let mut service_ports: BTreeMap<ServiceId, HeldPorts> = BTreeMap::new();
    let mut all_ports: HeldPorts = BTreeMap::new();
    let mut customer_plan: Option<BandwidthPlan> = None;
    for service in inv.services.values().filter(|s| &s.customer == customer) {
        let plan = bandwidth_plan(inv, service);
        if customer_plan.is_none() && plan.is_some() {
            customer_plan = plan;
        }
        for (res, iv) in inv.effective_assignments(service) {
            let Some(iv) = iv.intersect(window) else { continue };
            match res {
                ResourceRef::Outlet(o) => {
                    resources.push(totals.add_outlet(src, &book, service, &o, &iv)?);
                }
                ResourceRef::Port(p) => {
                    service_ports.entry(service.id.clone()).or_default().entry(p.clone()).or_default().push(iv);
                    all_ports.entry(p).or_default().push(iv);
                }
                ResourceRef::Rack(_) | ResourceRef::Asset(_) => {}
            }
        }
    }
    let (first, n) = (bandwidth::first_bucket(window), bandwidth::bucket_count(window));
    // A 95th is a pure function of the ports with their assignments and the plan's settings, so
    // a figure asked for again (a one-port service's port, service and customer figures are the
    // same ranking) is ranked once.
    let mut ranked: Vec<((HeldPorts, BandwidthPlan), P95)> = Vec::new();
    let mut rank = |ports: &HeldPorts, plan: BandwidthPlan| -> Result<P95, BucketError> {
        if let Some((_, p)) = ranked.iter().find(|((q, k), _)| *k == plan && q == ports) {
            return Ok(p.clone());
        }
        let buckets = ports
            .iter()
            .map(|(p, ivs)| {
                let (inbound, outbound) = src.buckets.port_dense(p.switch.as_str(), p.name.as_str(), first, n)?;
                Ok(PortBuckets { port: p.to_string(), first, inbound, outbound, assigned: ivs.clone() })
            })
            .collect::<Result<Vec<PortBuckets>, BucketError>>()?;
        let p = bandwidth::service_p95(&buckets, window, plan.method, plan.pooling, plan.missing);
        ranked.push(((ports.clone(), plan), p.clone()));
        Ok(p)
    };
    let mut services = Vec::new();
    for service in inv.services.values().filter(|s| &s.customer == customer) {
        let plan = bandwidth_plan(inv, service).unwrap_or_default();
        let bandwidth = match service_ports.get(&service.id) {
            Some(ports) => {
                for (port, ivs) in ports {
                    let one = BTreeMap::from([(port.clone(), ivs.clone())]);
                    let own = rank(&one, BandwidthPlan { pooling: Pooling::Pooled, ..plan })?;
                    resources.push(ResourceUsage {
                        kind: "port",
                        id: port.to_string(),
                        service: service.id.to_string(),
                        it_kwh: None,
                        facility_kwh: None,
                        kg_co2e: None,
                        p95_mbps: Some(Quantity(bandwidth::mbps(own.bytes))),
                    });
                }
                Some(to_bandwidth(&rank(ports, plan)?, plan))
            }
            None => None,
        };
        services.push(ServiceUsage { id: service.id.to_string(), bandwidth });
    }
    let plan = customer_plan.unwrap_or_default();
    let bandwidth = to_bandwidth(&rank(&all_ports, plan)?, plan);
    let usage = Usage {
        customer: customer.to_string(),
        from: window.from,
        to: window.end(),
        energy: totals.energy,
        carbon: totals.carbon,
        bandwidth,
        resources,
        services,
    };
    let n_ns = i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(super::bucket::BUCKET_NS);
    Ok((usage, Reach { raw: totals.raw_reach, buckets: (first, first.plus_ns(n_ns)) }))
}

#[cfg(test)]
mod tests;
