//! The series billing needs besides readings: grid carbon intensity and site PUE.

use rust_decimal::Decimal;

use crate::id::{GridRegion, SiteId};
use crate::time::Interval;

/// Carbon intensity of a grid region over `[from, to)`, in gCO2e per kWh.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntensityValue {
    /// The grid region.
    pub region: GridRegion,
    /// When the value holds.
    #[serde(flatten)]
    pub interval: Interval,
    /// gCO2e per kWh (≥ 0).
    pub g_per_kwh: Decimal,
}

/// A site's PUE over `[from, to)`; outside every value the site's default `pue` applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PueValue {
    /// The site.
    pub site: SiteId,
    /// When the value holds.
    #[serde(flatten)]
    pub interval: Interval,
    /// PUE (≥ 1).
    pub pue: Decimal,
}
