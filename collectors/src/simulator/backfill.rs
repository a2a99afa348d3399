//! History for a simulated fleet: the readings its collectors would have stored had they polled
//! it every `step` in the past. The values are the simulator's own (the same model answers SNMP),
//! so backfilled history and live polls continue each other without a seam: counters carry on,
//! reboots reset octets and sysUpTime where the model reboots the device.
//!
//! Series are the collectors' ones: outlets `(pdu, index, power_w|energy_wh)`, ports
//! `(switch, ifName, in_octets|out_octets|oper_status)`, each sample with the device's uptime.
//! PDU inlets are not backfilled (nothing bills them).

use std::sync::Arc;

use engine::store::PendingReading;
use engine::store::reading::{SeriesKey, Value};
use engine::time::Timestamp;

use super::model::{Device, Kind, OUTLETS, PORTS, Shape};

/// What one device contributes: its resources' numbers and series keys.
struct Source {
    device: Device,
    /// `(outlet or port number, keys)`: power/energy or in/out/oper-status.
    resources: Vec<(u32, Vec<SeriesKey>)>,
}

/// A fleet's history generator over the resources chosen at construction.
pub struct Backfill {
    sources: Vec<Source>,
    shape: Shape,
}

impl Backfill {
    /// The resources of `devices` that `keep(device, resource)` accepts (`resource`: the outlet
    /// number or the port's ifName, as the collectors name them).
    pub fn new(devices: &[Device], keep: impl Fn(&str, &str) -> bool) -> Self {
        let key = |d: &Arc<str>, r: &Arc<str>, m: &str| SeriesKey {
            device: Arc::clone(d),
            resource: Arc::clone(r),
            metric: m.into(),
        };
        let sources = devices
            .iter()
            .map(|d| {
                let (count, name, metrics): (u32, fn(u32) -> String, &[&str]) = match d.kind {
                    Kind::Pdu => (OUTLETS, |o| o.to_string(), &["power_w", "energy_wh"]),
                    Kind::Switch => (PORTS, |p| format!("Ethernet{p}"), &["in_octets", "out_octets", "oper_status"]),
                };
                let resources = (1..=count)
                    .filter_map(|i| {
                        let r: Arc<str> = name(i).into();
                        keep(&d.id, &r).then(|| (i, metrics.iter().map(|m| key(&d.id, &r, m)).collect()))
                    })
                    .collect();
                Source { device: d.clone(), resources }
            })
            .filter(|s| !s.resources.is_empty())
            .collect();
        Self { sources, shape: Shape::default() }
    }

    /// Series written per sample time.
    pub fn series(&self) -> usize {
        self.sources.iter().flat_map(|s| &s.resources).map(|(_, k)| k.len()).sum()
    }

    /// The readings at `t_ms` (milliseconds since the epoch), appended to `out`.
    pub fn readings_at(&self, t_ms: u64, out: &mut Vec<PendingReading>) {
        let ts = Timestamp::from_nanos(i64::try_from(t_ms).unwrap_or(i64::MAX).saturating_mul(1_000_000));
        for s in &self.sources {
            let d = &s.device;
            // sysUpTime in TimeTicks (wrapping at 2^32), read as whole seconds, as the pollers do.
            let uptime_s = Some(((t_ms - d.boot_ms(t_ms)) / 10 % (1 << 32)) / 100);
            for (i, keys) in &s.resources {
                let values: [u64; 3] = match d.kind {
                    Kind::Pdu => [d.power_w(&self.shape, *i, t_ms), d.energy_wh(&self.shape, *i, t_ms) % (1 << 32), 0],
                    Kind::Switch => [
                        d.octets(&self.shape, *i, 0, t_ms),
                        d.octets(&self.shape, *i, 1, t_ms),
                        u64::from(d.oper_status(*i)),
                    ],
                };
                for (key, v) in keys.iter().zip(values) {
                    out.push(PendingReading {
                        key: key.clone(),
                        ts,
                        value: Value::from_u64(v),
                        uptime_s,
                        discontinuity: None,
                    });
                }
            }
        }
    }
}

/// Sample times from `from_ms` (aligned up to `step_ms`) while before `to_ms`.
pub fn times(from_ms: u64, to_ms: u64, step_ms: u64) -> impl Iterator<Item = u64> {
    let step = step_ms.max(1);
    let first = from_ms.div_ceil(step) * step;
    (0..).map(move |i| first + i * step).take_while(move |&t| t < to_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::fleet;

    #[test]
    fn one_sample_per_series_and_step() {
        let devices = fleet(1, 1, 1);
        let all = Backfill::new(&devices, |_, _| true);
        assert_eq!(all.series(), 48 * 3 + 24 * 2);
        let mut r = Vec::new();
        all.readings_at(1_790_000_000_000, &mut r);
        assert_eq!(r.len(), 48 * 3 + 24 * 2);
        assert_eq!(r[0].key.device.as_ref(), "sw-0001");
        assert_eq!(r[0].key.resource.as_ref(), "Ethernet1");
        assert_eq!(r[0].ts.as_nanos(), 1_790_000_000_000_000_000);
        let shape = Shape::default();
        let pdu = &devices[1];
        let only = Backfill::new(&devices, |d, r| d == "pdu-0001" && r == "3");
        let mut r = Vec::new();
        only.readings_at(1_790_000_000_000, &mut r);
        let got: Vec<(&str, &str, String)> =
            r.iter().map(|x| (x.key.resource.as_ref(), x.key.metric.as_ref(), x.value.to_string())).collect();
        let want = [
            ("3", "power_w", pdu.power_w(&shape, 3, 1_790_000_000_000).to_string()),
            ("3", "energy_wh", pdu.energy_wh(&shape, 3, 1_790_000_000_000).to_string()),
        ];
        assert_eq!(got, want.iter().map(|(a, b, c)| (*a, *b, c.clone())).collect::<Vec<_>>());
        assert_eq!(times(1_000, 3_100, 1_000).collect::<Vec<_>>(), vec![1_000, 2_000, 3_000]);
        assert_eq!(times(1_001, 3_000, 1_000).collect::<Vec<_>>(), vec![2_000]);
    }
}
