//! Rating: from quantities to money. So far the money rules (metering.md §8) and proration
//! (§7); the charge types arrive with the invoicing work.

pub mod money;
pub mod proration;
