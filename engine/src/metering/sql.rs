//! Metering's DataFusion adapters, apart from the billing math: the `nearest_rank` aggregate
//! ([`udaf`]) and the `port_buckets` and `outlet_energy` views ([`views`]) over the
//! store's one `TableProvider` helper (`store::pushdown::PushdownTable`).

pub mod udaf;
pub mod views;
