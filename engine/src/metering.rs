//! Metering (`metering.md`): readings to billable quantities. Counter rules (§2) in [`counter`],
//! 300 s buckets (§3) in [`bucket`] and materialised in [`bucket_table`], the nearest-rank 95th
//! (§4) in [`percentile`], [`bandwidth`] and the SQL aggregate [`udaf`], energy (§5) in
//! [`energy`], carbon (§6) in [`carbon`], assignment-aware usage (§7) in [`usage`], SQL views
//! in [`views`]. What a service used in a period, with its evidence, is measured by [`meter`]
//! (from [`samples`], with [`outage`]s for SLA credits); rating prices it.

pub mod bandwidth;
pub mod bucket;
pub mod bucket_archive;
pub mod bucket_chunks;
pub mod bucket_table;
pub mod carbon;
pub mod counter;
pub mod energy;
pub mod factors;
pub mod history;
pub mod hourly_factors;
pub mod live;
pub mod meter;
pub mod month_to_date;
pub mod outage;
pub mod percentile;
pub mod plant;
pub mod running;
pub mod samples;
pub mod udaf;
pub mod usage;
pub mod usage_cache;
pub mod views;
