//! colometer's collectors: SNMP pollers, device profiles and the fleet simulator.
//!
//! Nothing is implemented here yet: the SNMP work is its own issue. The crate exists so the
//! workspace has its final shape and the dependency direction (`collectors` → `engine`) is fixed.
