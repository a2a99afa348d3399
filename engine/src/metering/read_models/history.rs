//! A customer's history for charts: per 5-minute bucket, the power drawn by the outlets its
//! services held in that bucket and the pooled bandwidth of the ports they held, plus the
//! commitments of its plans.
//!
//! What a chart draws, not what is billed: the billed 95th, kWh and their evidence come from
//! [`crate::metering::usage::customer_usage`] (the portal draws that 95th as a line over these series).
//! - Power of a bucket: per outlet held at the bucket's start, the mean of its `power_w` readings
//!   in the bucket; summed over those outlets. `null` when none of them reported power then.
//!   Outlets that only report energy are not drawn (their kWh are in the usage totals).
//! - Bandwidth of a bucket: the bytes of the bucket table's valid intervals summed over the ports
//!   held at the bucket's start, in Mbps (`bytes × 8 / 300 s / 10^6`, 3 decimals); `null` when no
//!   port has data in the bucket (a gap, or nothing assigned).

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::domain::ResourceRef;
use crate::domain::metric;
use crate::domain::rate_plan::Charge;
use crate::id::CustomerId;
use crate::metering::bucket::{BUCKET_NS, bucket_start};
use crate::metering::usage::{Sources, UsageError};
use crate::store::buffer::ScanFilter;
use crate::store::reading::{SeriesKey, VALUE_SCALE};
use crate::store::series_set::SeriesSet;
use crate::time::{Interval, Timestamp};

/// Most buckets one history answers (a 31-day month is 8,928).
pub const MAX_BUCKETS: usize = 9_000;

/// A customer's chart data over a window.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct History {
    /// The customer.
    pub customer: String,
    /// First bucket's start.
    pub from: Timestamp,
    /// End of the last bucket (exclusive).
    pub to: Timestamp,
    /// Bucket width, seconds (300).
    pub step_s: u32,
    /// Bucket starts, Unix seconds.
    pub ts: Vec<i64>,
    /// Power of the held outlets per bucket, W (3 decimals).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Option<String>>))]
    pub power_w: Vec<Option<Decimal>>,
    /// Pooled inbound rate per bucket, Mbps (3 decimals).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Option<String>>))]
    pub in_mbps: Vec<Option<Decimal>>,
    /// Pooled outbound rate per bucket, Mbps (3 decimals).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Option<String>>))]
    pub out_mbps: Vec<Option<Decimal>>,
    /// Bandwidth commitment of the customer's plans (summed over services), Mbps.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub commit_mbps: Option<Decimal>,
    /// Power commitment of the customer's plans (summed over services), kW.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub committed_kw: Option<Decimal>,
}

/// Why a history cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Usage sources failed (unknown customer, store).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The window holds more buckets than [`MAX_BUCKETS`].
    #[error("the window holds {0} buckets; at most {MAX_BUCKETS} (a month) are drawn at once")]
    TooLong(usize),
}

impl From<crate::store::StoreError> for HistoryError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Usage(e.into())
    }
}

impl From<crate::metering::bucket_table::BucketError> for HistoryError {
    fn from(e: crate::metering::bucket_table::BucketError) -> Self {
        Self::Usage(UsageError::Store(e))
    }
}

fn three(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero).normalize()
}

/// The customer's history over `window`, widened to whole buckets. Settle the bucket table first.
pub fn customer_history(src: &Sources<'_>, customer: &CustomerId, window: &Interval) -> Result<History, HistoryError> {
    let inv = src.inventory;
    if !inv.customers.contains_key(customer) {
        return Err(UsageError::UnknownCustomer(customer.to_string()).into());
    }
    let first = window.from.floor_to(BUCKET_NS);
    let n = usize::try_from((window.end().nanos_since(first) + BUCKET_NS - 1).div_euclid(BUCKET_NS)).unwrap_or(0);
    if n > MAX_BUCKETS {
        return Err(HistoryError::TooLong(n));
    }
    let starts: Vec<Timestamp> = (0..n as i64).map(|i| first.plus_ns(i * BUCKET_NS)).collect();
    let (mut commit_mbps, mut committed_kw) = (None::<Decimal>, None::<Decimal>);
    let mut power: Vec<Option<Decimal>> = vec![None; n];
    let (mut rx, mut tx): (Vec<Option<u64>>, Vec<Option<u64>>) = (vec![None; n], vec![None; n]);
    for service in inv.services.values().filter(|s| &s.customer == customer) {
        for c in inv.rate_plans.get(&service.plan).map(|p| p.charges.as_slice()).unwrap_or_default() {
            match c {
                Charge::BandwidthP95 { commit_mbps: m, .. } => *commit_mbps.get_or_insert(Decimal::ZERO) += m,
                Charge::CommittedPower { committed_kw: k, .. } => *committed_kw.get_or_insert(Decimal::ZERO) += k,
                _ => {}
            }
        }
        for (res, held) in inv.effective_assignments(service) {
            // Buckets whose start the assignment holds.
            let idx: Vec<usize> = (0..n).filter(|&i| held.contains(starts[i])).collect();
            let (Some(&lo), Some(&hi)) = (idx.first(), idx.last()) else { continue };
            match res {
                ResourceRef::Outlet(o) => {
                    let key = SeriesKey {
                        device: o.pdu.as_str().into(),
                        resource: o.index.to_string().into(),
                        metric: metric::POWER_W.into(),
                    };
                    let means = bucket_means(src, &key, starts[lo], starts[hi].plus_ns(BUCKET_NS))?;
                    for i in idx {
                        if let Some(w) = means.get(&starts[i]) {
                            *power[i].get_or_insert(Decimal::ZERO) += w;
                        }
                    }
                }
                ResourceRef::Port(p) => {
                    let (ins, outs) =
                        src.buckets.port_dense(p.switch.as_str(), p.name.as_str(), starts[lo], hi - lo + 1)?;
                    for i in idx {
                        for (slots, sum) in [(&ins, &mut rx), (&outs, &mut tx)] {
                            if let Some(s) = slots.get(i - lo).filter(|s| s.has_data()) {
                                *sum[i].get_or_insert(0) += s.bytes;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mbps = |b: Option<u64>| b.map(|b| three(Decimal::from(b) * Decimal::from(8) / Decimal::from(300_000_000)));
    Ok(History {
        customer: customer.to_string(),
        from: first,
        to: first.plus_ns(n as i64 * BUCKET_NS),
        step_s: 300,
        ts: starts.iter().map(|t| t.as_nanos().div_euclid(1_000_000_000)).collect(),
        power_w: power.into_iter().map(|p| p.map(three)).collect(),
        in_mbps: rx.into_iter().map(mbps).collect(),
        out_mbps: tx.into_iter().map(mbps).collect(),
        commit_mbps,
        committed_kw,
    })
}

/// The mean of a gauge's readings per bucket in `[from, to)`, by bucket start.
fn bucket_means(
    src: &Sources<'_>,
    key: &SeriesKey,
    from: Timestamp,
    to: Timestamp,
) -> Result<BTreeMap<Timestamp, Decimal>, UsageError> {
    let Some(id) = src.store.registry().get(key) else { return Ok(BTreeMap::new()) };
    let filter = ScanFilter { series: Some(Arc::new(SeriesSet::from_iter([id.0]))), from: Some(from), to: Some(to) };
    let rows = src.store.scan(&filter).map_err(UsageError::from)?;
    let mut sums: BTreeMap<Timestamp, (i128, i64)> = BTreeMap::new();
    for i in 0..rows.len() {
        let e = sums.entry(bucket_start(Timestamp::from_nanos(rows.ts[i]))).or_default();
        e.0 += rows.value[i];
        e.1 += 1;
    }
    Ok(sums
        .into_iter()
        .map(|(t, (sum, count))| (t, Decimal::from_i128_with_scale(sum, VALUE_SCALE) / Decimal::from(count)))
        .collect())
}
