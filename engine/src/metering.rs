//! Metering (`metering.md`): readings to billable quantities. So far the counter rules (§2), the
//! 300 s bucket apportioning (§3) and the nearest-rank percentile (§4); energy, carbon,
//! assignment-aware usage and the materialised bucket table come next.

pub mod bandwidth;
pub mod bucket;
pub mod bucket_table;
pub mod carbon;
pub mod counter;
pub mod energy;
pub mod percentile;
pub mod plant;
pub mod udaf;
pub mod usage;
