//! Counter samples decoded from stored rows and committed readings: a stored value counts when
//! it is a non-negative integer that fits a u64 (anything else is ignored and counted).

use super::CounterSample;
use crate::store::buffer::Rows;
use crate::store::reading::{Reading, VALUE_SCALE};
use crate::time::Timestamp;

/// A counter sample from a stored value, if the value is a non-negative integer that fits a u64.
fn counter_sample(
    ts: Timestamp,
    value: i128,
    uptime_s: Option<u64>,
    discontinuity: Option<u64>,
) -> Option<CounterSample> {
    Some(CounterSample { ts, value: unscaled_integer(value)?, uptime_s, discontinuity })
}

/// The scale of stored values (`10^VALUE_SCALE`).
const UNIT: u64 = 10u64.pow(VALUE_SCALE);

/// `value / 10^VALUE_SCALE` when that is an integer that fits a u64. Done as long division in
/// 32-bit limbs by a constant (multiplications), not a 128-bit division per reading (a library
/// call; two of them were a tenth of the observer's time).
pub(super) fn unscaled_integer(value: i128) -> Option<u64> {
    let n = u128::try_from(value).ok()?;
    let high = u64::try_from(n >> 64).ok()?;
    if high >= UNIT {
        return None; // the quotient would not fit a u64
    }
    let low = n as u64;
    let a = (high << 32) | (low >> 32);
    let (q1, r1) = (a / UNIT, a % UNIT);
    let b = (r1 << 32) | (low & 0xFFFF_FFFF);
    let (q0, r0) = (b / UNIT, b % UNIT);
    (r0 == 0).then_some((q1 << 32) | q0)
}

/// Each series' run of rows sorted by series: `(id, first row, end row)`.
pub(super) fn series_runs(rows: &Rows) -> impl Iterator<Item = (u32, usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let id = *rows.series.get(i)?;
        let start = i;
        i += rows.series[i..].iter().take_while(|&&s| s == id).count();
        Some((id, start, i))
    })
}

pub(super) fn sample(rows: &Rows, i: usize) -> Option<CounterSample> {
    counter_sample(Timestamp::from_nanos(rows.ts[i]), rows.value[i], rows.uptime_s[i], rows.discontinuity[i])
}

pub(super) fn reading_sample(r: &Reading) -> Option<CounterSample> {
    counter_sample(r.ts, r.value.0, r.uptime_s, r.discontinuity)
}
