//! What the metering rules need from the inventory about devices: which series are port counters
//! with which speed and poll interval, and which PDU poll interval applies to an outlet.

use std::collections::HashMap;
use std::sync::Arc;

use super::bucket_table::{Classifier, Direction, PortMeta};
use super::counter::CounterWidth;
use crate::domain::metric;
use crate::id::PduId;
use crate::inventory::Inventory;
use crate::store::reading::SeriesKey;

/// Maps looked up per new series (inventory names, not attacker-chosen): foldhash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Poll intervals and port speeds from an inventory, with the configured default interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plant {
    default_poll_ns: i64,
    switches: FastMap<String, i64>,
    /// Declared port speeds, bits/s, by switch then port (looked up without allocating).
    speeds: FastMap<String, FastMap<String, u64>>,
    pdus: FastMap<String, i64>,
}

impl Plant {
    /// From `inv`; `default_poll_s` is `[collectors] default_interval`.
    pub fn new(inv: &Inventory, default_poll_s: u32) -> Self {
        let ns = |s: u32| i64::from(s) * 1_000_000_000;
        let default_poll_ns = ns(default_poll_s);
        let switches = inv
            .switches
            .values()
            .map(|s| (s.id.to_string(), s.interval.map_or(default_poll_ns, |i| ns(i.interval_s()))))
            .collect();
        let speeds = inv
            .switches
            .values()
            .map(|s| {
                let ports = s
                    .ports
                    .iter()
                    .filter_map(|p| p.speed_mbps.map(|m| (p.name.to_string(), m.saturating_mul(1_000_000))))
                    .collect();
                (s.id.to_string(), ports)
            })
            .collect();
        let pdus = inv
            .pdus
            .values()
            .map(|p| (p.id.to_string(), p.interval.map_or(default_poll_ns, |i| ns(i.interval_s()))))
            .collect();
        Self { default_poll_ns, switches, speeds, pdus }
    }

    /// A PDU's poll interval, ns.
    pub fn pdu_poll_ns(&self, pdu: &PduId) -> i64 {
        self.pdus.get(pdu.as_str()).copied().unwrap_or(self.default_poll_ns)
    }

    /// What a series is, if it is a port counter of a known switch. Pushed octet counters are
    /// 64-bit (`contract.md`); speed is the declared contract speed (ifHighSpeed once collected).
    pub fn port_meta(&self, key: &SeriesKey) -> Option<PortMeta> {
        let direction = match &*key.metric {
            metric::IN_OCTETS => Direction::In,
            metric::OUT_OCTETS => Direction::Out,
            _ => return None,
        };
        let poll_ns = *self.switches.get(&*key.device)?;
        let speed_bps = self.speeds.get(&*key.device).and_then(|p| p.get(&*key.resource)).copied();
        Some(PortMeta { direction, poll_ns, speed_bps, width: CounterWidth::Bits64 })
    }

    /// The classifier for the bucket table.
    pub fn classifier(self: Arc<Self>) -> Arc<Classifier> {
        Arc::new(move |k: &SeriesKey| self.port_meta(k))
    }
}
