//! A data-centre site.

use rust_decimal::Decimal;

use crate::id::{GridRegion, SiteId};

/// A site: its default PUE and the grid region its electricity comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    /// The site's ID.
    pub id: SiteId,
    /// Display name.
    pub name: String,
    /// PUE used when no `[from, to)` value of the PUE series covers an instant; at least 1.
    pub pue: Decimal,
    /// Grid region for carbon intensity, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_region: Option<GridRegion>,
}
