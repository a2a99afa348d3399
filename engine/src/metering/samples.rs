//! Raw outlet samples for many outlets at once. A billing run meters thousands of outlets over the
//! same month; one store scan per outlet would read every hourly segment once per outlet, so the
//! run loads a chunk of outlets' samples in one scan and meters them from memory.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::domain::metric;
use crate::id::OutletId;
use crate::metering::energy::{EnergySample, PowerSample};
use crate::store::buffer::ScanFilter;
use crate::store::reading::{SeriesKey, VALUE_SCALE};
use crate::store::series_set::SeriesSet;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// One series' samples: `(ts, value, uptime)`, sorted by time.
type Series = Vec<(Timestamp, Decimal, Option<u64>)>;

/// Samples of a set of outlets over `[from, to)`.
#[derive(Debug)]
pub struct Samples {
    from: Timestamp,
    to: Timestamp,
    loaded: HashSet<u32>,
    series: HashMap<u32, Series>,
}

fn key(outlet: &OutletId, metric: &str) -> SeriesKey {
    SeriesKey { device: outlet.pdu.as_str().into(), resource: outlet.index.to_string().into(), metric: metric.into() }
}

impl Default for Samples {
    /// Nothing loaded: every question is "scan the store".
    fn default() -> Self {
        Self { from: Timestamp::MAX, to: Timestamp::MIN, loaded: HashSet::new(), series: HashMap::new() }
    }
}

impl Samples {
    /// Loads the energy and power samples of `outlets` in `[from, to)` with one scan.
    pub fn load(store: &Store, outlets: &[OutletId], from: Timestamp, to: Timestamp) -> Result<Self, StoreError> {
        let reg = store.registry();
        let ids: SeriesSet = outlets
            .iter()
            .flat_map(|o| [key(o, metric::ENERGY_WH), key(o, metric::POWER_W)])
            .filter_map(|k| reg.get(&k).map(|id| id.0))
            .collect();
        let mut out = Samples { from, to, loaded: ids.iter().collect(), series: HashMap::new() };
        if ids.is_empty() {
            return Ok(out);
        }
        let rows = store.scan(&ScanFilter { series: Some(Arc::new(ids)), from: Some(from), to: Some(to) })?;
        // Rows come sorted by series, then time: one run per series.
        let mut start = 0;
        while start < rows.len() {
            let id = rows.series[start];
            let end = start + rows.series[start..].iter().take_while(|&&s| s == id).count();
            let run: Series = (start..end)
                .map(|i| {
                    (
                        Timestamp::from_nanos(rows.ts[i]),
                        Decimal::from_i128_with_scale(rows.value[i], VALUE_SCALE),
                        rows.uptime_s[i],
                    )
                })
                .collect();
            out.series.insert(id, run);
            start = end;
        }
        Ok(out)
    }

    /// An outlet's `(power, counter)` samples in `[from, to)`, if this set holds them (the outlet
    /// was loaded and the range lies inside the loaded one); `None` means "scan the store".
    pub fn outlet(
        &self,
        store: &Store,
        outlet: &OutletId,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<(Vec<PowerSample>, Vec<EnergySample>)> {
        if from < self.from || to > self.to {
            return None;
        }
        let reg = store.registry();
        let pick = |metric: &str| -> Option<&[(Timestamp, Decimal, Option<u64>)]> {
            let Some(id) = reg.get(&key(outlet, metric)) else { return Some(&[]) };
            if !self.loaded.contains(&id.0) {
                return None;
            }
            let all = self.series.get(&id.0).map_or(&[][..], Vec::as_slice);
            let a = all.partition_point(|s| s.0 < from);
            let b = all.partition_point(|s| s.0 < to);
            Some(&all[a..b])
        };
        let power = pick(metric::POWER_W)?.iter().map(|&(ts, watts, _)| PowerSample { ts, watts }).collect();
        let counter =
            pick(metric::ENERGY_WH)?.iter().map(|&(ts, wh, uptime_s)| EnergySample { ts, wh, uptime_s }).collect();
        Some((power, counter))
    }
}
