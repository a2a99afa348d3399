//! The names of the readings billing needs, once: the line-protocol fields of the `port` and
//! `outlet` measurements (`contract.md`), which are also the stored series' metric names. The
//! collectors write them, ingest checks them, metering reads them.

/// Port: bytes received, a counter.
pub const IN_OCTETS: &str = "in_octets";
/// Port: bytes sent, a counter.
pub const OUT_OCTETS: &str = "out_octets";
/// Port: ifOperStatus as reported (1 up).
pub const OPER_STATUS: &str = "oper_status";
/// Port: ifCounterDiscontinuityTime, the sample's discontinuity marker.
pub const DISCONTINUITY: &str = "discontinuity";
/// Port or outlet: the device's uptime, seconds (reboots).
pub const UPTIME_S: &str = "uptime_s";
/// Outlet: energy, Wh, a counter.
pub const ENERGY_WH: &str = "energy_wh";
/// Outlet: power, W.
pub const POWER_W: &str = "power_w";

/// The `port` measurement's fields.
pub const PORT_FIELDS: &[&str] = &[IN_OCTETS, OUT_OCTETS, UPTIME_S, DISCONTINUITY, OPER_STATUS];
/// The `outlet` measurement's fields.
pub const OUTLET_FIELDS: &[&str] = &[ENERGY_WH, POWER_W, UPTIME_S];
/// Fields stored as unsigned integers (counters, markers, status); the others are decimals.
pub const INTEGER_FIELDS: &[&str] = &[IN_OCTETS, OUT_OCTETS, UPTIME_S, DISCONTINUITY, OPER_STATUS];
