//! The domain model: the physical plant (sites, racks, PDUs, switches, assets), the commercial
//! side (customers, rate plans, services) and the series billing needs (grid intensity, PUE).
//!
//! An asset and its billable service are one record seen from two sides: a service assigns
//! resources for `[from, to)` intervals, and the *effective* billing interval of an assignment is
//! clipped by the life of the asset behind it ([`service::effective_assignments`]), so retiring an
//! asset or moving a rack changes billing from that instant with nothing else to update.

pub mod asset;
pub mod currency;
pub mod customer;
pub mod device;
pub mod grid;
pub mod metric;
pub mod money;
pub mod rack;
pub mod rate_plan;
pub mod resource;
pub mod service;
pub mod site;
pub mod ticket;

pub use asset::{Asset, AssetKind, AssetStatus};
pub use currency::Currency;
pub use customer::Customer;
pub use device::{OutletDecl, Pdu, PollInterval, PortDecl, SnmpTarget, SnmpVersion, Switch};
pub use grid::{IntensityValue, PueValue};
pub use money::{CurrencyMismatch, Money};
pub use rack::{Rack, RackLocation};
pub use rate_plan::{BandwidthMethod, Charge, EnergyBasis, GapFill, MissingBuckets, Pooling, RatePlan};
pub use resource::ResourceRef;
pub use service::{Assignment, Service};
pub use site::Site;
pub use ticket::Ticket;
