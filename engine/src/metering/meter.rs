//! What one service measured in one billing period, with the evidence behind every figure: the
//! service's span, its racks' stays (site by site), each outlet's energy (by source, the holes,
//! the PUE and intensity used) and its ports' 95th (rank, bucket, flags). Rating prices these;
//! the invoice keeps them as each line's evidence.
//!
//! Readings where the spec is silent, as an auditor would take them:
//! - A service's *span* is the union of its effective assignments (metering.md §7) inside the
//!   period. Recurring charges without a resource of their own (commitments, cross-connects,
//!   other recurring items) prorate by it, and `hours_assigned` of committed power is its length.
//! - Peak utilisation ranks the 5-minute average kW of the service's outlets summed per bucket
//!   (buckets aligned like bandwidth buckets), nearest rank, over buckets holding energy.

use std::cell::RefCell;
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use super::samples::Samples;
use crate::domain::metric;
use crate::domain::{Charge, GapFill, Pooling, RatePlan, ResourceRef, Service};
use crate::id::{OutletId, PortId, RackId, ServiceId, SiteId};
use crate::metering::bandwidth::{self, Flags, PortBuckets};
use crate::metering::bucket::BUCKET_NS;
use crate::metering::bucket_table::BucketError;
use crate::metering::carbon;
use crate::metering::energy::{HoleReason, Piece, Source};
use crate::metering::factors::Factorbook;
use crate::metering::hourly_factors::{HourCounts, HourlyFactors};
use crate::metering::percentile::{self, P95};
use crate::metering::usage::{Sources, energy_of, look_around_ns, outlet_energy};
use crate::store::buffer::ScanFilter;
use crate::store::reading::{SeriesKey, VALUE_SCALE};
use crate::store::series_set::SeriesSet;
use crate::time::{Interval, Timestamp};

/// Measures services against one set of sources (one inventory, store and bucket table).
pub struct Meter<'a> {
    src: &'a Sources<'a>,
    /// PUE and intensity per site and hour, looked up once per run.
    hourly: HourlyFactors<'a>,
    /// Outlet samples loaded ahead by [`Meter::preload`]; outlets outside it are scanned alone.
    samples: RefCell<Samples>,
}

/// What a service measured in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMeter {
    /// The service.
    pub service: ServiceId,
    /// The billing period.
    pub period: Interval,
    /// The union of its effective assignments inside the period, sorted and merged.
    pub span: Vec<Interval>,
    /// Its racks, one entry per stay at a site.
    pub racks: Vec<RackStay>,
    /// Its outlets' energy.
    pub outlets: Vec<OutletEnergy>,
    /// Its ports' 95th, when it has ports.
    pub bandwidth: Option<BandwidthEvidence>,
    /// Power over the span: average and 95th of 5-minute averages.
    pub power: PowerProfile,
    /// Asset-level outages longer than the plan's SLA threshold (none without an SLA charge).
    pub outages: Vec<Outage>,
}

/// An outage of the service: some asset had no power (or no readings) throughout, or every
/// port connecting it was down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outage {
    /// When.
    #[serde(flatten)]
    pub interval: Interval,
    /// Its length, minutes.
    pub minutes: Decimal,
    /// The dark outlets behind it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outlets: Vec<String>,
    /// The down ports behind it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

/// Resources that back each other up (an asset's outlets, or its ports), keyed by the asset
/// (or the lone resource) and whether they are ports: each member's name and down stretches.
type Redundancy = BTreeMap<(String, bool), Vec<(String, Vec<Interval>)>>;

/// A rack assigned to the service while it stood at one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RackStay {
    /// The rack.
    pub rack: RackId,
    /// Where it stood (none when its location history has a hole).
    pub site: Option<SiteId>,
    /// When, inside the period.
    pub interval: Interval,
}

/// One outlet's energy while assigned to the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutletEnergy {
    /// `pdu/index`.
    pub outlet: String,
    /// Its effective assignment intervals inside the period.
    pub intervals: Vec<Interval>,
    /// Measured energy, kWh (exact).
    pub it_kwh: Decimal,
    /// Energy times the PUE of each hour, kWh (exact).
    pub facility_kwh: Decimal,
    /// kgCO2e (exact).
    pub kg_co2e: Decimal,
    /// Energy by how it is known.
    pub sources: Vec<SourceTotal>,
    /// Intervals of unknown energy (counted as nothing).
    pub holes: Vec<HoleEvidence>,
    /// PUE and intensity values used, with the hours each applied to.
    pub factors: Vec<FactorUse>,
    /// SQL over the `readings` view returning the raw readings inside the assignment, both
    /// bounds included (a delta across the first bound also uses the reading just before it,
    /// shared by time overlap).
    pub readings_sql: String,
    /// Stretches with no power or no readings longer than the SLA threshold (SLA plans only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dark: Vec<Interval>,
}

/// Energy of one kind of source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceTotal {
    /// `counter` (deltas), `integrated` (trapezoid of power), `reset_estimated` (a counter reset
    /// estimated from power), `held_last` (a gap filled by the last power value).
    pub source: &'static str,
    /// Sample-to-sample intervals contributing.
    pub intervals: u64,
    /// Wh inside the assignment (exact).
    pub wh: Decimal,
}

/// An interval that contributed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoleEvidence {
    /// Last sample before it.
    pub from: Timestamp,
    /// First sample after it.
    pub to: Timestamp,
    /// `reset` (counter reset, no power samples inside) or `gap` (longer than 3 poll intervals).
    pub reason: &'static str,
}

/// A PUE and grid intensity that applied to some hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactorUse {
    /// The site (none: the outlet's rack had no site then; PUE 1, intensity 0).
    pub site: Option<SiteId>,
    /// PUE.
    pub pue: Decimal,
    /// gCO2e per kWh.
    pub g_per_kwh: Decimal,
    /// The intensity is the region's default, not a value for those hours.
    pub defaulted: bool,
    /// Hours (with energy) it applied to.
    pub hours: u64,
}

/// A 95th with the whole of its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BandwidthEvidence {
    /// How directions combine.
    pub method: &'static str,
    /// How ports combine.
    pub pooling: &'static str,
    /// What missing buckets count as.
    pub missing_buckets: &'static str,
    /// The billed 95th, Mbps (exact: bytes × 8 / 300 / 10^6).
    pub p95_mbps: Decimal,
    /// Inbound 95th, Mbps.
    pub p95_in_mbps: Option<Decimal>,
    /// Outbound 95th, Mbps.
    pub p95_out_mbps: Option<Decimal>,
    /// Bytes in the 95th's bucket.
    pub p95_bytes: u64,
    /// n: buckets ranked.
    pub samples: usize,
    /// The rank `k = ceil(0.95 n)` (pooled).
    pub rank: Option<usize>,
    /// Buckets discarded above the 95th.
    pub discarded: usize,
    /// Start of the bucket holding it (pooled).
    pub p95_bucket: Option<Timestamp>,
    /// Flagged bucket counts.
    pub flags: Flags,
    /// The ports, their assignments and their own 95th.
    pub ports: Vec<PortEvidence>,
}

/// One port of a service's 95th.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortEvidence {
    /// `switch/ifName`.
    pub port: String,
    /// Effective assignment intervals inside the period (a bucket counts when it starts inside).
    pub intervals: Vec<Interval>,
    /// The port's own 95th under the service's method, Mbps.
    pub p95_mbps: Decimal,
    /// SQL over the `port_buckets` view returning its buckets.
    pub buckets_sql: String,
}

/// Power over the service's span.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PowerProfile {
    /// Length of the span, hours.
    pub hours_assigned: Decimal,
    /// IT energy of its outlets, kWh.
    pub it_kwh: Decimal,
    /// `it_kwh / hours_assigned`.
    pub average_kw: Decimal,
    /// 95th percentile of 5-minute average kW.
    pub p95_kw: Decimal,
    /// Start of the bucket holding it.
    pub p95_bucket: Option<Timestamp>,
    /// Buckets with energy.
    pub buckets: usize,
}

/// Site, PUE, intensity and whether it was defaulted: what [`FactorUse`] counts hours of.
fn hours(ns: i128) -> Decimal {
    Decimal::from_i128_with_scale(ns, 9) / Decimal::from(3600)
}

/// Sorts and merges intervals (all closed).
pub fn merge(mut ivs: Vec<Interval>) -> Vec<Interval> {
    ivs.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(ivs.len());
    for iv in ivs {
        match out.last_mut() {
            Some(last) if iv.from <= last.end() => {
                if iv.end() > last.end() {
                    last.to = iv.to;
                }
            }
            _ => out.push(iv),
        }
    }
    out
}

/// Total length of closed intervals, ns.
pub fn length_ns(ivs: &[Interval]) -> i128 {
    ivs.iter().map(|iv| i128::from(iv.end().as_nanos()) - i128::from(iv.from.as_nanos())).sum()
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Counter => "counter",
        Source::Integrated => "integrated",
        Source::ResetEstimated => "reset_estimated",
        Source::HeldLast => "held_last",
    }
}

fn sql_quote(s: &str) -> String {
    s.replace('\'', "''")
}

impl<'a> Meter<'a> {
    /// A meter over `src`.
    pub fn new(src: &'a Sources<'a>) -> Self {
        Self {
            src,
            hourly: HourlyFactors::new(Factorbook::new(src.inventory)),
            samples: RefCell::new(Samples::default()),
        }
    }

    /// Loads the samples of `outlets` needed to meter windows inside `[from, to)` in one scan,
    /// replacing what was loaded before (a billing run meters its customers chunk by chunk).
    pub fn preload(&self, outlets: &[OutletId], from: Timestamp, to: Timestamp) -> Result<(), BucketError> {
        let poll = outlets.iter().map(|o| self.src.plant.pdu_poll_ns(&o.pdu)).max().unwrap_or(0);
        let look = look_around_ns(poll);
        let loaded = Samples::load(self.src.store, outlets, from.minus_ns(look), to.plus_ns(look))?;
        *self.samples.borrow_mut() = loaded;
        Ok(())
    }

    /// What `service` (billed under `plan`) measured in `period` (closed). Settle the bucket
    /// table first.
    pub fn service(&self, service: &Service, plan: &RatePlan, period: &Interval) -> Result<ServiceMeter, BucketError> {
        let inv = self.src.inventory;
        let mut span = Vec::new();
        let mut racks = Vec::new();
        let mut outlets: BTreeMap<OutletId, Vec<Interval>> = BTreeMap::new();
        let mut ports: BTreeMap<PortId, Vec<Interval>> = BTreeMap::new();
        for (res, iv) in inv.effective_assignments(service) {
            let Some(iv) = iv.intersect(period) else { continue };
            span.push(iv);
            match res {
                ResourceRef::Rack(r) => racks.extend(self.rack_stays(&r, iv)),
                ResourceRef::Outlet(o) => outlets.entry(o).or_default().push(iv),
                ResourceRef::Port(p) => ports.entry(p).or_default().push(iv),
                ResourceRef::Asset(_) => {}
            }
        }
        racks.sort_by(|a, b| (&a.rack, a.interval).cmp(&(&b.rack, b.interval)));
        let span = merge(span);
        let gap_fill = plan
            .charges
            .iter()
            .find_map(|c| match c {
                Charge::Energy { gap_fill, .. } => Some(*gap_fill),
                _ => None,
            })
            .unwrap_or_default();
        let threshold_ns = plan.charges.iter().find_map(|c| match c {
            Charge::SlaCredit { threshold_minutes, .. } => Some(i64::from(*threshold_minutes) * 60_000_000_000),
            _ => None,
        });
        let mut power_buckets = PowerBuckets::new(period);
        let mut energy = Vec::with_capacity(outlets.len());
        let mut groups: Redundancy = BTreeMap::new();
        for (outlet, ivs) in outlets {
            let e = self.outlet(&outlet, merge(ivs), gap_fill, threshold_ns, &mut power_buckets)?;
            let asset = inv.asset_behind(&ResourceRef::Outlet(outlet.clone())).map(|a| a.id.to_string());
            let group = (asset.unwrap_or_else(|| format!("outlet {outlet}")), false);
            groups.entry(group).or_default().push((e.outlet.clone(), e.dark.clone()));
            energy.push(e);
        }
        if let Some(threshold) = threshold_ns {
            for (port, ivs) in &ports {
                let down = super::outage::port_down(&self.oper_status(port, period)?, &merge(ivs.clone()), threshold);
                let asset = inv.asset_behind(&ResourceRef::Port(port.clone())).map(|a| a.id.to_string());
                let group = (asset.unwrap_or_else(|| format!("port {port}")), true);
                groups.entry(group).or_default().push((port.to_string(), down));
            }
        }
        let outages = if threshold_ns.is_some() { outages(&groups) } else { Vec::new() };
        let it_kwh: Decimal = energy.iter().map(|e| e.it_kwh).sum();
        let hours_assigned = hours(length_ns(&span));
        let power = power_profile(hours_assigned, it_kwh, &power_buckets);
        let bandwidth = if ports.is_empty() { None } else { Some(self.bandwidth(plan, period, ports)?) };
        Ok(ServiceMeter {
            service: service.id.clone(),
            period: *period,
            span,
            racks,
            outlets: energy,
            bandwidth,
            power,
            outages,
        })
    }

    fn rack_stays(&self, rack: &RackId, iv: Interval) -> Vec<RackStay> {
        let Some(r) = self.src.inventory.racks.get(rack) else { return Vec::new() };
        if r.locations.is_empty() {
            return vec![RackStay { rack: rack.clone(), site: Some(r.site.clone()), interval: iv }];
        }
        // Each stay inside the assignment; what no stay covers bills with no site.
        let mut out: Vec<RackStay> = r
            .locations
            .iter()
            .filter_map(|l| {
                Some(RackStay { rack: rack.clone(), site: Some(l.site.clone()), interval: l.interval.intersect(&iv)? })
            })
            .collect();
        out.sort_by_key(|s| s.interval);
        let mut cursor = iv.from;
        let mut holes = Vec::new();
        for s in &out {
            if s.interval.from > cursor
                && let Ok(h) = Interval::closed(cursor, s.interval.from)
            {
                holes.push(RackStay { rack: rack.clone(), site: None, interval: h });
            }
            cursor = cursor.max(s.interval.end());
        }
        if cursor < iv.end()
            && let Ok(h) = Interval::closed(cursor, iv.end())
        {
            holes.push(RackStay { rack: rack.clone(), site: None, interval: h });
        }
        out.extend(holes);
        out
    }

    fn outlet(
        &self,
        outlet: &OutletId,
        ivs: Vec<Interval>,
        gap_fill: GapFill,
        threshold_ns: Option<i64>,
        power_buckets: &mut PowerBuckets,
    ) -> Result<OutletEnergy, BucketError> {
        // Callers pass at least one interval; none measures nothing over an empty range.
        let epoch = Timestamp::from_nanos(0);
        let from = ivs.first().map_or(epoch, |iv| iv.from);
        let to = ivs.last().map_or(epoch, |iv| iv.end());
        let poll = self.src.plant.pdu_poll_ns(&outlet.pdu);
        let look = look_around_ns(poll);
        let (a, b) = (from.minus_ns(look), to.plus_ns(look));
        let loaded = self.samples.borrow().outlet(self.src.store, outlet, a, b);
        let e = match loaded {
            Some((power, counter)) => energy_of(&power, &counter, poll, gap_fill),
            None => outlet_energy(self.src.store, outlet, from, to, poll, gap_fill)?,
        };
        // Hours counted per (site, PUE, intensity, defaulted); intensity may change every hour.
        let used = RefCell::new(HourCounts::default());
        let place = self.hourly.book().place(outlet);
        // The site's slot, looked up again only when the site changes (a rack moved).
        let current: RefCell<Option<(Option<&SiteId>, usize)>> = RefCell::new(None);
        let factors = |h: Timestamp| {
            let site = place.site_at(h);
            let mut cur = current.borrow_mut();
            let slot = match *cur {
                Some((s, slot)) if s == site => slot,
                _ => {
                    let slot = self.hourly.slot(site);
                    *cur = Some((site, slot));
                    slot
                }
            };
            self.hourly.at(slot, h, &mut used.borrow_mut())
        };
        let (mut it_kwh, mut facility_kwh, mut kg_co2e) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let mut sources: BTreeMap<&'static str, (u64, Decimal)> = BTreeMap::new();
        let mut holes = Vec::new();
        for iv in &ivs {
            let f = carbon::footprint(&e, iv, factors);
            it_kwh += f.it_kwh;
            facility_kwh += f.facility_kwh;
            kg_co2e += f.kg_co2e;
            let (a, b) = (iv.from, iv.end());
            for p in e.pieces.iter().filter(|p| p.to > a && p.from < b) {
                let wh = p.share(a, b);
                let entry = sources.entry(source_name(p.source)).or_default();
                entry.0 += 1;
                entry.1 += wh;
                power_buckets.add(p, a, b);
            }
            holes.extend(e.holes.iter().filter(|h| h.to > a && h.from < b).map(|h| HoleEvidence {
                from: h.from,
                to: h.to,
                reason: match h.reason {
                    HoleReason::Reset => "reset",
                    HoleReason::Gap => "gap",
                },
            }));
        }
        holes.dedup();
        let dark = threshold_ns.map(|t| super::outage::dark(&e, &ivs, t, poll)).unwrap_or_default();
        let factors = self
            .hourly
            .used(used.into_inner())
            .into_iter()
            .map(|u| FactorUse {
                site: u.site,
                pue: u.factors.pue,
                g_per_kwh: u.factors.g_per_kwh,
                defaulted: u.factors.defaulted,
                hours: u.hours,
            })
            .collect();
        let readings_sql = format!(
            "SELECT ts, metric, value FROM readings WHERE device = '{}' AND resource = '{}' AND ts >= '{}' AND ts <= '{}' ORDER BY ts, metric",
            sql_quote(outlet.pdu.as_str()),
            outlet.index,
            from,
            to,
        );
        Ok(OutletEnergy {
            outlet: outlet.to_string(),
            intervals: ivs,
            it_kwh,
            facility_kwh,
            kg_co2e,
            sources: sources
                .into_iter()
                .map(|(source, (intervals, wh))| SourceTotal { source, intervals, wh: wh.normalize() })
                .collect(),
            holes,
            factors,
            readings_sql,
            dark,
        })
    }

    /// A port's ifOperStatus reports (`oper_status`) from a day before `period` to its end.
    fn oper_status(&self, port: &PortId, period: &Interval) -> Result<Vec<(Timestamp, u64)>, BucketError> {
        let key = SeriesKey {
            device: port.switch.as_str().into(),
            resource: port.name.as_str().into(),
            metric: metric::OPER_STATUS.into(),
        };
        let Some(id) = self.src.store.registry().get(&key) else { return Ok(Vec::new()) };
        let filter = ScanFilter {
            series: Some(std::sync::Arc::new(std::iter::once(id.0).collect::<SeriesSet>())),
            from: Some(period.from.minus_ns(86_400 * 1_000_000_000)),
            to: Some(period.end()),
        };
        let rows = self.src.store.scan(&filter)?;
        Ok(rows
            .ts
            .iter()
            .zip(&rows.value)
            .filter_map(|(&ts, &v)| {
                u64::try_from(v / 10i128.pow(VALUE_SCALE)).ok().map(|status| (Timestamp::from_nanos(ts), status))
            })
            .collect())
    }

    fn bandwidth(
        &self,
        plan: &RatePlan,
        period: &Interval,
        ports: BTreeMap<PortId, Vec<Interval>>,
    ) -> Result<BandwidthEvidence, BucketError> {
        let (method, pooling, missing) = plan
            .charges
            .iter()
            .find_map(|c| match c {
                Charge::BandwidthP95 { method, pooling, missing_buckets, .. } => {
                    Some((*method, *pooling, *missing_buckets))
                }
                _ => None,
            })
            .unwrap_or_default();
        let (first, n) = (bandwidth::first_bucket(period), bandwidth::bucket_count(period));
        let buckets = ports
            .into_iter()
            .map(|(p, ivs)| {
                let (inbound, outbound) = self.src.buckets.port_dense(p.switch.as_str(), p.name.as_str(), first, n)?;
                Ok(PortBuckets { port: p.to_string(), first, inbound, outbound, assigned: merge(ivs) })
            })
            .collect::<Result<Vec<PortBuckets>, BucketError>>()?;
        let total = bandwidth::service_p95(&buckets, period, method, pooling, missing);
        let single = buckets.len() == 1;
        let ports = buckets
            .iter()
            .map(|one| {
                // One port alone: its own 95th is the service's (pooled or not).
                let own = if single {
                    total.clone()
                } else {
                    bandwidth::service_p95(std::slice::from_ref(one), period, method, Pooling::Pooled, missing)
                };
                let (switch, name) = one.port.split_once('/').unwrap_or((one.port.as_str(), ""));
                PortEvidence {
                    port: one.port.clone(),
                    intervals: one.assigned.clone(),
                    p95_mbps: bandwidth::mbps(own.bytes),
                    buckets_sql: format!(
                        "SELECT * FROM port_buckets WHERE device = '{}' AND port = '{}' AND bucket_start >= '{}' AND bucket_start < '{}' ORDER BY bucket_start",
                        sql_quote(switch),
                        sql_quote(name),
                        period.from,
                        period.end(),
                    ),
                }
            })
            .collect();
        Ok(BandwidthEvidence {
            method: method.as_str(),
            pooling: pooling.as_str(),
            missing_buckets: missing.as_str(),
            p95_mbps: bandwidth::mbps(total.bytes),
            p95_in_mbps: total.in_bytes.map(bandwidth::mbps),
            p95_out_mbps: total.out_bytes.map(bandwidth::mbps),
            p95_bytes: total.bytes,
            samples: total.n,
            rank: if pooling == Pooling::Pooled { percentile::rank(total.n, P95) } else { None },
            discarded: total.discarded,
            p95_bucket: total.bucket,
            flags: total.flags,
            ports,
        })
    }
}

/// The service's outages: per asset (or lone outlet or port) the stretches all its outlets were
/// dark, or all its ports down, merged over all of them.
fn outages(groups: &Redundancy) -> Vec<Outage> {
    let mut down: Vec<(Interval, bool, Vec<String>)> = Vec::new();
    for ((_, port), members) in groups {
        let mut common: Option<Vec<Interval>> = None;
        for (_, d) in members {
            common = Some(match common {
                None => d.clone(),
                Some(c) => super::outage::intersect(&c, d),
            });
        }
        let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
        down.extend(common.unwrap_or_default().into_iter().map(|iv| (iv, *port, names.clone())));
    }
    down.sort_by_key(|(iv, _, _)| *iv);
    let mut out: Vec<Outage> = Vec::new();
    for (iv, port, names) in down {
        let o = match out.last_mut() {
            Some(last) if iv.from <= last.interval.end() => {
                if iv.end() > last.interval.end() {
                    last.interval.to = iv.to;
                }
                last
            }
            _ => {
                out.push(Outage { interval: iv, minutes: Decimal::ZERO, outlets: Vec::new(), ports: Vec::new() });
                let Some(last) = out.last_mut() else { continue };
                last
            }
        };
        let list = if port { &mut o.ports } else { &mut o.outlets };
        for n in names {
            if !list.contains(&n) {
                list.push(n);
            }
        }
    }
    for o in &mut out {
        o.minutes = (Decimal::from_i128_with_scale(length_ns(std::slice::from_ref(&o.interval)), 9)
            / Decimal::from(60))
        .normalize();
    }
    out
}

/// A service's energy per 5-minute bucket of the period, for its peak: ranked in binary floating
/// point (the figure is evidence, not billed), the chosen bucket's Wh then summed exactly from the
/// pieces kept.
struct PowerBuckets {
    first: Timestamp,
    approx_wh: Vec<Option<f64>>,
    pieces: Vec<(Piece, Timestamp, Timestamp)>,
}

impl PowerBuckets {
    fn new(period: &Interval) -> Self {
        let first = period.from.floor_to(BUCKET_NS);
        let n = (period.end().nanos_since(first) + BUCKET_NS - 1) / BUCKET_NS;
        Self { first, approx_wh: vec![None; usize::try_from(n).unwrap_or(0)], pieces: Vec::new() }
    }

    /// Spreads a piece's energy inside `[a, b)` over the buckets it overlaps.
    fn add(&mut self, p: &Piece, a: Timestamp, b: Timestamp) {
        let (from, to) = (p.from.max(a), p.to.min(b));
        let len = p.to.nanos_since(p.from) as f64;
        if to <= from || len <= 0.0 {
            return;
        }
        let wh = p.wh.to_f64().unwrap_or(0.0);
        let mut bucket = from.floor_to(BUCKET_NS);
        while bucket < to {
            let overlap = bucket.plus_ns(BUCKET_NS).min(to).nanos_since(bucket.max(from)) as f64;
            let i = usize::try_from(bucket.nanos_since(self.first) / BUCKET_NS).unwrap_or(usize::MAX);
            if let Some(slot) = self.approx_wh.get_mut(i) {
                *slot = Some(slot.unwrap_or(0.0) + wh * overlap / len);
            }
            bucket = bucket.plus_ns(BUCKET_NS);
        }
        self.pieces.push((*p, a, b));
    }

    /// The exact Wh of the bucket starting at `bucket`.
    fn exact(&self, bucket: Timestamp) -> Decimal {
        let end = bucket.plus_ns(BUCKET_NS);
        self.pieces
            .iter()
            .filter(|(p, a, b)| p.to > bucket && p.from < end && *b > bucket && *a < end)
            .map(|(p, a, b)| p.share(bucket.max(*a), end.min(*b)))
            .sum()
    }
}

fn power_profile(hours_assigned: Decimal, it_kwh: Decimal, buckets: &PowerBuckets) -> PowerProfile {
    let mut keyed: Vec<(f64, Timestamp)> = Vec::with_capacity(buckets.approx_wh.len());
    let mut start = buckets.first;
    for w in &buckets.approx_wh {
        if let Some(w) = *w {
            keyed.push((w, start));
        }
        start = start.plus_ns(BUCKET_NS);
    }
    let n = keyed.len();
    // A full sort measured faster than select_nth_unstable here (near-equal keys of steady
    // power made the selection slow).
    keyed.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let ranked = percentile::rank(n, P95).and_then(|k| keyed.get(k - 1)).map(|&(_, bucket)| {
        let kw = buckets.exact(bucket) * Decimal::from(12) / Decimal::from(1000);
        percentile::Ranked { value: (kw, bucket), n, discarded: n - percentile::rank(n, P95).unwrap_or(n) }
    });
    PowerProfile {
        hours_assigned: hours_assigned.normalize(),
        it_kwh: it_kwh.normalize(),
        average_kw: if hours_assigned.is_zero() { Decimal::ZERO } else { it_kwh / hours_assigned },
        p95_kw: ranked.map_or(Decimal::ZERO, |r| r.value.0.normalize()),
        p95_bucket: ranked.map(|r| r.value.1),
        buckets: n,
    }
}
