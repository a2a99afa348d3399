//! Location-based carbon (metering.md §6): `kg_co2e = Σ_h facility_kwh(h) × intensity(h) / 1000`
//! over the hours `h` of a window, with `facility_kwh(h) = it_kwh(h) × PUE(h)`.
//!
//! Reading where the spec is silent: PUE and intensity are taken at each hour's start (both
//! series are hourly or coarser); a window's partial first and last hours count their part.
//! An hour without an intensity value uses the region's default factor and is counted.

use rust_decimal::Decimal;

use super::energy::Energy;
use crate::time::{Interval, Timestamp};

const HOUR_NS: i64 = 3_600 * 1_000_000_000;

/// A `[from, to)` series of values (PUE, gCO2e/kWh).
pub type Series = [(Interval, Decimal)];

/// The value of `series` holding at `t`, if any. `series` is sorted by start and free of
/// overlaps (inventory validation guarantees it), so this is a binary search.
pub fn value_at(series: &Series, t: Timestamp) -> Option<Decimal> {
    let i = series.partition_point(|(iv, _)| iv.from <= t);
    series[..i].last().filter(|(iv, _)| iv.contains(t)).map(|(_, v)| *v)
}

/// A window's energy and carbon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Measured energy, kWh.
    pub it_kwh: Decimal,
    /// Energy times PUE, kWh.
    pub facility_kwh: Decimal,
    /// kgCO2e.
    pub kg_co2e: Decimal,
    /// Hours that used the region's default intensity (flagged).
    pub default_intensity_hours: u64,
}

/// What applies to one hour: PUE and grid intensity (gCO2e/kWh), and whether the intensity is
/// the region's default (no value for that hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factors {
    /// PUE.
    pub pue: Decimal,
    /// gCO2e per kWh.
    pub g_per_kwh: Decimal,
    /// The intensity is the default, not a value for the hour.
    pub defaulted: bool,
}

/// The factors from one site's PUE series (default `default_pue`) and one region's intensity
/// series (default `default_g_per_kwh`) at `hour`.
pub fn factors_at(
    pue: &Series,
    default_pue: Decimal,
    intensity: &Series,
    default_g_per_kwh: Decimal,
    hour: Timestamp,
) -> Factors {
    let (g_per_kwh, defaulted) = match value_at(intensity, hour) {
        Some(g) => (g, false),
        None => (default_g_per_kwh, true),
    };
    Factors { pue: value_at(pue, hour).unwrap_or(default_pue), g_per_kwh, defaulted }
}

/// The footprint of `energy` inside `window`, hour by hour, with each hour's factors (taken at
/// the hour's start) from `factors`.
pub fn footprint(energy: &Energy, window: &Interval, factors: impl Fn(Timestamp) -> Factors) -> Footprint {
    let (from, to) = (window.from, window.end());
    // Each piece's energy split over the hours it overlaps (inside the window): O(pieces).
    // Pieces come in time order, so the hours do too; a piece out of order is merged after.
    let mut hourly: Vec<(Timestamp, Decimal)> = Vec::new();
    let mut ordered = true;
    for p in &energy.pieces {
        let (a, b) = (p.from.max(from), p.to.min(to));
        let mut hour = a.floor_to(HOUR_NS);
        while hour < b {
            let wh = p.share(hour.max(a), hour.plus_ns(HOUR_NS).min(b));
            match hourly.last_mut() {
                Some((h, sum)) if *h == hour => *sum += wh,
                Some((h, _)) if *h > hour => {
                    ordered = false;
                    hourly.push((hour, wh));
                }
                _ => hourly.push((hour, wh)),
            }
            hour = hour.plus_ns(HOUR_NS);
        }
    }
    if !ordered {
        hourly.sort_by_key(|(h, _)| *h);
        hourly.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
    }
    let mut out = Footprint::default();
    // × 0.001 rather than ÷ 1000: the same exact value (a shift of the decimal point), without
    // Decimal's long division, which dominated a billing run's cost.
    let milli = Decimal::new(1, 3);
    for (hour, wh) in hourly {
        if wh.is_zero() {
            continue;
        }
        let kwh = wh * milli;
        let f = factors(hour);
        let facility = kwh * f.pue;
        out.default_intensity_hours += u64::from(f.defaulted);
        out.it_kwh += kwh;
        out.facility_kwh += facility;
        out.kg_co2e += facility * f.g_per_kwh * milli;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::energy::{Piece, Source};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn hourly_pue_and_intensity() {
        let h = |n: i64| Timestamp::from_nanos(n * HOUR_NS);
        // 1 kWh in each of three hours.
        let energy = Energy {
            pieces: (0..3)
                .map(|i| Piece { from: h(i), to: h(i + 1), wh: d("1000"), source: Source::Counter })
                .collect(),
            holes: vec![],
        };
        let pue = [(Interval::closed(h(0), h(2)).unwrap(), d("1.5"))];
        let intensity =
            [(Interval::closed(h(0), h(1)).unwrap(), d("300")), (Interval::closed(h(1), h(2)).unwrap(), d("100"))];
        let window = Interval::closed(h(0), h(3)).unwrap();
        let f = footprint(&energy, &window, |h| factors_at(&pue, d("1.2"), &intensity, d("400"), h));
        // Hour 0: 1.5 kWh x 300 g; hour 1: 1.5 x 100; hour 2: default PUE 1.2 x default 400 g.
        assert_eq!(f.it_kwh, d("3"));
        assert_eq!(f.facility_kwh, d("4.2"));
        assert_eq!(f.kg_co2e, d("0.45") + d("0.15") + d("0.48"));
        assert_eq!(f.default_intensity_hours, 1);
        // Half of the first hour only.
        let half = Interval::closed(h(0), Timestamp::from_nanos(HOUR_NS / 2)).unwrap();
        let f = footprint(&energy, &half, |h| factors_at(&pue, d("1.2"), &intensity, d("400"), h));
        assert_eq!((f.it_kwh, f.kg_co2e), (d("0.5"), d("0.225")));
    }
}
