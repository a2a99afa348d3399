//! Metering (`metering.md`): readings to billable quantities, in four parts.
//!
//! - The billing math: counter rules (§2) in [`counter`], 300 s buckets (§3) in [`bucket`], the
//!   nearest-rank 95th (§4) in [`percentile`], [`running`] and [`bandwidth`], energy (§5) in
//!   [`energy`], carbon (§6) in [`carbon`] with [`factors`] and [`hourly_factors`],
//!   assignment-aware usage (§7) in [`usage`]; what a service used in a period, with its
//!   evidence, in [`meter`] (from [`samples`], with [`outage`]s for SLA credits); [`plant`] says
//!   what the inventory implies for them. Rating prices what these measure.
//! - Bucket storage: the materialised 5-minute table ([`bucket_table`], its dense
//!   [`bucket_chunks`]) and the archive of closed months ([`bucket_archive`]).
//! - DataFusion adapters: [`sql`] (the `nearest_rank` aggregate, the SQL views).
//! - Read models for the portal and the live API: [`read_models`].

pub mod bandwidth;
pub mod bucket;
pub mod bucket_archive;
pub mod bucket_chunks;
pub mod bucket_table;
pub mod carbon;
pub mod counter;
pub mod energy;
pub mod factors;
pub mod hourly_factors;
pub mod meter;
pub mod outage;
pub mod percentile;
pub mod plant;
pub mod read_models;
pub mod running;
pub mod samples;
pub mod sql;
pub mod usage;
