//! Rating: from measured quantities to money. `meter` measures a service in a period with the
//! evidence, `charge` prices it under the plan's charges, `line` is the invoice line and its
//! evidence, `money` rounds (metering.md §8), `proration` shares a month by seconds (§7).

pub mod charge;
pub mod line;
pub mod meter;
pub mod money;
pub mod outage;
pub mod proration;
pub mod samples;
