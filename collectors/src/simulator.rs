//! `colometer simulate`: a fast SNMP agent simulator. One UDP socket serves a whole fleet of
//! switches and PDUs; the community string names the device (`sw-0001`, `pdu-0001`, …).
//! SNMPv1 and v2c GET, GETNEXT and GETBULK are answered (v1 never sees Counter64, as the
//! standard requires); v3 is not simulated (net-snmp's snmpd covers it in the tests).

pub mod agent;
pub mod backfill;
pub mod ber;
pub mod model;

pub use agent::{Simulator, SimulatorStats};
pub use model::{Device, Kind};

/// The devices of a fleet: `switches` IF-MIB switches `sw-0001`… and `pdus` PDUs `pdu-0001`….
pub fn fleet(pdus: u32, switches: u32, seed: u64) -> Vec<Device> {
    let mut v = Vec::with_capacity((pdus + switches) as usize);
    for i in 1..=switches {
        let id = format!("sw-{i:04}");
        v.push(Device { seed: model::mix(seed ^ model::mix(u64::from(i))), id: id.into(), kind: Kind::Switch });
    }
    for i in 1..=pdus {
        let id = format!("pdu-{i:04}");
        v.push(Device { seed: model::mix(seed ^ model::mix(u64::from(i) | 1 << 40)), id: id.into(), kind: Kind::Pdu });
    }
    v
}
