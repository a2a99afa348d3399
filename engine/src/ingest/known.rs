//! Which devices and resources may receive pushed readings: an unknown device, port or outlet is
//! a bad line (`contract.md`). A device's declared ports or outlets are known; a device with SNMP
//! and nothing declared accepts any (its resources are discovered).

use std::collections::{HashMap, HashSet};

use crate::inventory::Inventory;

/// A device's known resources.
#[derive(Debug, Clone, Default)]
struct Device {
    declared: HashSet<String>,
    open: bool,
}

/// A device's entry: its declared resources; open when it has SNMP and declares none.
fn device(id: &impl ToString, declared: impl Iterator<Item = String>, snmp: bool) -> (String, Device) {
    let declared: HashSet<String> = declared.collect();
    let open = snmp && declared.is_empty();
    (id.to_string(), Device { declared, open })
}

/// Known PDUs and switches with their resources.
#[derive(Debug, Clone, Default)]
pub struct KnownResources {
    pdus: HashMap<String, Device>,
    switches: HashMap<String, Device>,
}

/// What kind of device a line's resource is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A PDU (outlets).
    Pdu,
    /// A switch (ports).
    Switch,
}

impl KnownResources {
    /// From the inventory.
    pub fn from_inventory(inv: &Inventory) -> Self {
        let pdus = inv
            .pdus
            .values()
            .map(|p| device(&p.id, p.outlets.iter().map(|o| o.index.to_string()), p.snmp.is_some()))
            .collect();
        let switches = inv
            .switches
            .values()
            .map(|s| device(&s.id, s.ports.iter().map(|p| p.name.to_string()), s.snmp.is_some()))
            .collect();
        Self { pdus, switches }
    }

    /// `Ok` if `resource` of `device` may receive readings, else why not.
    pub fn check(&self, kind: DeviceKind, device: &str, resource: &str) -> Result<(), String> {
        let (map, what, res) = match kind {
            DeviceKind::Pdu => (&self.pdus, "PDU", "outlet"),
            DeviceKind::Switch => (&self.switches, "switch", "port"),
        };
        let d = map.get(device).ok_or_else(|| format!("unknown {what} '{device}'"))?;
        if d.open || d.declared.contains(resource) {
            Ok(())
        } else {
            Err(format!("{what} '{device}' has no {res} '{resource}'"))
        }
    }
}
