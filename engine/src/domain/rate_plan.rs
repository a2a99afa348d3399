//! Rate plans and their charges (the `type`s of `contract.md`).

use rust_decimal::Decimal;

use super::currency::Currency;
use crate::id::RatePlanId;

/// A rate plan: a currency and the charges it bills.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RatePlan {
    /// The plan's ID.
    pub id: RatePlanId,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Currency of every price in the plan.
    pub currency: Currency,
    /// The charges.
    pub charges: Vec<Charge>,
}

impl RatePlan {
    /// Whether the plan credits outages (an `sla_credit` charge): rating then meters the month
    /// before the billed one too.
    pub fn has_sla(&self) -> bool {
        self.charges.iter().any(|c| matches!(c, Charge::SlaCredit { .. }))
    }
}

/// One charge of a plan. Prices are non-negative decimals in the plan's currency; recurring
/// prices are per calendar month of the customer and prorate by seconds assigned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Charge {
    /// Rent of each assigned rack.
    RackRent {
        /// Price per rack per month.
        price_per_month: Decimal,
    },
    /// Measured energy.
    Energy {
        /// Price per kWh.
        price_per_kwh: Decimal,
        /// Which energy is billed.
        basis: EnergyBasis,
        /// What fills a gap in a power series without an energy counter.
        gap_fill: GapFill,
    },
    /// A power commitment with overage above it.
    CommittedPower {
        /// Committed power, kW.
        committed_kw: Decimal,
        /// Price of the commitment per month.
        price_per_month: Decimal,
        /// Price per kWh of IT energy above `committed_kw * hours_assigned`.
        overage_per_kwh: Decimal,
    },
    /// 95th-percentile bandwidth with a commitment.
    BandwidthP95 {
        /// Committed bandwidth, Mbps.
        commit_mbps: Decimal,
        /// Price of the commitment per month.
        price_per_month: Decimal,
        /// Price per Mbps of 95th above the commitment.
        overage_per_mbps: Decimal,
        /// How directions combine.
        method: BandwidthMethod,
        /// How several ports combine.
        pooling: Pooling,
        /// What missing buckets count as.
        missing_buckets: MissingBuckets,
    },
    /// Remote-hands work from tickets.
    RemoteHands {
        /// Price per hour.
        price_per_hour: Decimal,
        /// Billed time is rounded up to a multiple of this.
        increment_minutes: u32,
        /// Each ticket bills at least this.
        minimum_minutes: u32,
    },
    /// A cross-connect, billed monthly per unit.
    CrossConnect {
        /// What it connects.
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Price per cross-connect per month.
        price_per_month: Decimal,
        /// Number of cross-connects.
        quantity: Decimal,
    },
    /// Any other recurring item, billed monthly.
    Recurring {
        /// Invoice text.
        description: String,
        /// Price per unit per month.
        price_per_month: Decimal,
        /// Number of units.
        quantity: Decimal,
    },
    /// A one-off charge, billed in the period in which the service's first assignment starts.
    OneOff {
        /// Invoice text.
        description: String,
        /// Price.
        price: Decimal,
    },
    /// Service-level credits: outages detected at the asset level in one month (outlet power at
    /// zero, or no readings, for longer than the threshold) credit a share of that month's
    /// recurring charges on the next invoice.
    SlaCredit {
        /// An outage counts when it lasts longer than this.
        threshold_minutes: u32,
        /// Credit per started hour of outage, percent of the month's recurring charges.
        credit_percent_per_hour: Decimal,
        /// Most that one month's outages credit, percent.
        max_credit_percent: Decimal,
    },
}

impl Charge {
    /// The contract's `type` string of this charge.
    pub fn type_name(&self) -> &'static str {
        match self {
            Charge::RackRent { .. } => "rack_rent",
            Charge::Energy { .. } => "energy",
            Charge::CommittedPower { .. } => "committed_power",
            Charge::BandwidthP95 { .. } => "bandwidth_p95",
            Charge::RemoteHands { .. } => "remote_hands",
            Charge::CrossConnect { .. } => "cross_connect",
            Charge::Recurring { .. } => "recurring",
            Charge::OneOff { .. } => "one_off",
            Charge::SlaCredit { .. } => "sla_credit",
        }
    }
}

macro_rules! spelled_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? } default $def:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)+
        }
        impl $name {
            /// Every spelling accepted, for error messages.
            pub const SPELLINGS: &'static [&'static str] = &[$($s),+];
            /// Parses the inventory spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$var),)+ _ => None }
            }
            /// The inventory spelling.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$var => $s,)+ }
            }
        }
        impl Default for $name { fn default() -> Self { Self::$def } }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

spelled_enum!(
    /// Which energy an energy charge bills.
    EnergyBasis { /** Measured IT energy. */ It = "it_kwh", /** IT energy times PUE. */ Facility = "facility_kwh" } default It
);
spelled_enum!(
    /// Gap handling for integrated power (metering.md §5).
    GapFill { /** Gaps contribute nothing (flagged). */ None = "none", /** Hold the last power value. */ HoldLast = "hold_last" } default None
);
spelled_enum!(
    /// How in and out combine into one 95th (metering.md §4).
    BandwidthMethod {
        /** max(p95(in), p95(out)). */ MaxInOut = "max_in_out",
        /** p95(in + out). */ Sum = "sum",
        /** p95(in). */ In = "in",
        /** p95(out). */ Out = "out"
    } default MaxInOut
);
spelled_enum!(
    /// How several ports of a service combine.
    Pooling { /** Add rates per bucket, then rank. */ Pooled = "pooled", /** Sum of each port's own 95th. */ PerPort = "per_port" } default Pooled
);
spelled_enum!(
    /// What buckets without data count as.
    MissingBuckets { /** Left out of n. */ Exclude = "exclude", /** Counted as rate 0. */ Zero = "zero" } default Exclude
);
