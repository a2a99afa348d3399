//! Rating: from measured quantities to money, and nothing else (what a service used in a period,
//! with its evidence, is measured by [`crate::metering::meter`]). `charge` prices it under the plan's charges, `line` is the invoice line and its
//! evidence, `money` rounds (metering.md §8), `proration` shares a month by seconds (§7).

pub mod charge;
pub mod line;
pub mod money;
pub mod proration;
