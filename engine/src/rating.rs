//! Rating: from measured quantities to money, and nothing else (what a service used in a period,
//! with its evidence, is measured by [`crate::metering::meter`]). `charge` prices it under the
//! plan's charges, `line` is the invoice line and its evidence, `proration` shares a month by
//! seconds (§7). Amounts are [`crate::domain::Money`], rounded once where metering.md §8 says.

pub mod charge;
pub mod line;
pub mod proration;
