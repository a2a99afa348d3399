//! One poll cycle of one device: GET requests of whole resources (a resource's cells never span
//! two requests, so its counters share a timestamp and an uptime), each stamped with the time
//! its response arrived, converted to readings exactly as the line protocol would store them.

use std::sync::Arc;

use engine::clock::Clock;
use engine::store::PendingReading;
use engine::store::reading::{SeriesKey, Value};

use crate::discovery::Layout;
use crate::oid::{Oid, well_known};
use crate::profile::Metric;
use crate::snmp::{Prepared, Session, SnmpError, SnmpValue};

/// SNMP error-status `tooBig`.
const TOO_BIG: u32 = 1;

/// What one cycle produced.
#[derive(Debug, Default)]
pub struct Cycle {
    /// Readings, ready for the store.
    pub readings: Vec<PendingReading>,
    /// Cells the device no longer has (the layout is stale: rediscover).
    pub missing: u64,
    /// Cells whose value had the wrong type or did not fit.
    pub bad_values: u64,
    /// Counters that went backwards without an uptime reset or discontinuity.
    pub regressions: u64,
    /// sysUpTime in seconds from the last response, when the device has it.
    pub uptime_s: Option<u64>,
    /// Each cell's value (`None`: missing or bad), in layout order.
    pub cells: Vec<Option<Value>>,
}

/// Interned metric names (every reading of a metric shares one string).
#[derive(Debug, Clone)]
pub struct MetricNames([Arc<str>; 6]);

impl Default for MetricNames {
    fn default() -> Self {
        Self(
            [
                Metric::InOctets,
                Metric::OutOctets,
                Metric::PowerW,
                Metric::EnergyWh,
                Metric::Discontinuity,
                Metric::OperStatus,
            ]
            .map(|m| Arc::from(m.name())),
        )
    }
}

impl MetricNames {
    fn get(&self, m: Metric) -> Arc<str> {
        let i = match m {
            Metric::InOctets => 0,
            Metric::OutOctets => 1,
            Metric::PowerW => 2,
            Metric::EnergyWh => 3,
            Metric::Discontinuity => 4,
            Metric::OperStatus => 5,
        };
        Arc::clone(&self.0[i])
    }
}

/// The request plan of a layout: cell ranges per request, each request's OIDs encoded once.
#[derive(Debug, Clone)]
pub struct Plan {
    requests: Vec<std::ops::Range<usize>>,
    prepared: Vec<Option<Prepared>>,
    has_uptime: bool,
}

impl Plan {
    /// Groups whole resources into requests of at most `max_varbinds` (uptime included).
    pub fn new(layout: &Layout, max_varbinds: usize) -> Self {
        let room = max_varbinds.saturating_sub(usize::from(layout.has_uptime)).max(1);
        let mut requests = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < layout.cells.len() {
            let r = layout.cells[i].resource;
            let mut end = i;
            while end < layout.cells.len() && layout.cells[end].resource == r {
                end += 1;
            }
            if end - start > room && i > start {
                requests.push(start..i);
                start = i;
            }
            i = end;
        }
        if start < layout.cells.len() {
            requests.push(start..layout.cells.len());
        }
        let prepared = requests.iter().map(|r| Prepared::new(&request_oids(layout, r.clone())).ok()).collect();
        Self { requests, prepared, has_uptime: layout.has_uptime }
    }

    /// Requests per cycle.
    pub fn requests(&self) -> usize {
        self.requests.len()
    }
}

/// The OIDs of one request: sysUpTime (when the device has it), then the cells.
fn request_oids(layout: &Layout, range: std::ops::Range<usize>) -> Vec<Oid> {
    let mut oids: Vec<Oid> = Vec::with_capacity(range.len() + 1);
    if layout.has_uptime {
        oids.push(Oid::from_parts(well_known::SYS_UPTIME.to_vec()));
    }
    oids.extend(layout.cells[range].iter().map(|c| c.oid.clone()));
    oids
}

/// Last raw counter values, per cell, to count regressions.
pub type LastCounters = Vec<Option<(u64, Option<u64>)>>;

/// Runs one cycle.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    session: &mut Session,
    device: &Arc<str>,
    layout: &Layout,
    plan: &Plan,
    names: &MetricNames,
    clock: &dyn Clock,
    last: &mut LastCounters,
) -> Result<Cycle, SnmpError> {
    let mut cycle = Cycle::default();
    last.resize(layout.cells.len(), None);
    cycle.cells = vec![None; layout.cells.len()];
    for (range, prepared) in plan.requests.iter().zip(&plan.prepared) {
        let answer = match prepared {
            Some(p) => Some(session.get_prepared(p).await),
            None => None,
        };
        let values: Vec<SnmpValue> = match answer {
            Some(Ok(v)) => v,
            Some(Err(e)) if !matches!(e, SnmpError::Agent { status: TOO_BIG, .. }) => return Err(e),
            // Too big for one datagram, or not encodable up front: the general path, which splits.
            _ => session.get(&request_oids(layout, range.clone())).await?.into_iter().map(|(_, v)| v).collect(),
        };
        let ts = clock.now();
        let mut values = values.into_iter();
        let uptime_s = if plan.has_uptime {
            match values.next() {
                Some(SnmpValue::Timeticks(t)) => Some(u64::from(t) / 100),
                _ => None,
            }
        } else {
            None
        };
        cycle.uptime_s = uptime_s.or(cycle.uptime_s);
        let values: Vec<SnmpValue> = values.collect();
        // A resource's discontinuity marker flags all of its samples.
        let mut disc: Option<(usize, u64)> = None;
        for (cell, v) in layout.cells[range.clone()].iter().zip(&values) {
            if cell.metric == Metric::Discontinuity
                && let Some(t) = v.as_u64()
            {
                disc = Some((cell.resource, t));
            }
        }
        for (k, (cell, v)) in layout.cells[range.clone()].iter().zip(values).enumerate() {
            if !v.is_present() {
                cycle.missing += 1;
                continue;
            }
            let discontinuity = disc.filter(|(r, _)| *r == cell.resource).map(|(_, t)| t);
            let Some(value) = decode(cell, &v, &mut last[range.start + k], uptime_s, discontinuity, &mut cycle) else {
                continue;
            };
            cycle.cells[range.start + k] = Some(value);
            let res = &layout.resources[cell.resource];
            cycle.readings.push(PendingReading {
                key: SeriesKey {
                    device: Arc::clone(device),
                    resource: Arc::clone(&res.id),
                    metric: names.get(cell.metric),
                },
                ts,
                value,
                uptime_s,
                discontinuity,
            });
        }
    }
    Ok(cycle)
}

/// One cell's value in the store's representation; `None` (counted as a bad value) when the agent
/// answered with something the cell's metric cannot be. A raw counter also updates `slot`, its
/// last value, and counts a regression that neither a reboot nor a discontinuity explains.
fn decode(
    cell: &crate::discovery::Cell,
    v: &SnmpValue,
    slot: &mut Option<(u64, Option<u64>)>,
    uptime_s: Option<u64>,
    discontinuity: Option<u64>,
    cycle: &mut Cycle,
) -> Option<Value> {
    if cell.metric.is_raw() {
        let counter = match (v, cell.metric) {
            // Octet counters must be 64-bit (Counter64) or plain unsigned integers.
            (SnmpValue::Counter64(n), _) => Some(*n),
            (_, Metric::Discontinuity) => v.as_u64(),
            (SnmpValue::Counter32(n) | SnmpValue::Gauge32(n), _) => Some(u64::from(*n)),
            _ => None,
        };
        let Some(n) = counter else {
            cycle.bad_values += 1;
            return None;
        };
        if cell.metric != Metric::Discontinuity {
            if let Some((prev, prev_up)) = *slot {
                let rebooted = matches!((prev_up, uptime_s), (Some(a), Some(b)) if b < a);
                if n < prev && !rebooted && discontinuity.is_none() {
                    cycle.regressions += 1;
                }
            }
            *slot = Some((n, uptime_s));
        }
        Some(Value::from_u64(n))
    } else {
        let raw = match v {
            SnmpValue::Integer(i) => i128::from(*i),
            other => match other.as_u64() {
                Some(n) => i128::from(n),
                None => {
                    cycle.bad_values += 1;
                    return None;
                }
            },
        };
        let value = convert_value(cell, raw);
        if value.is_none() {
            cycle.bad_values += 1;
        }
        value
    }
}

/// A power or energy value in the store's exact representation; negative values are refused.
fn convert_value(cell: &crate::discovery::Cell, raw: i128) -> Option<Value> {
    if raw < 0 {
        return None;
    }
    Value::from_decimal(cell.scale.apply(raw, cell.digits)?).ok()
}
