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
            .map(|p| {
                let declared: HashSet<String> = p.outlets.iter().map(|o| o.index.to_string()).collect();
                let open = p.snmp.is_some() && declared.is_empty();
                (p.id.to_string(), Device { declared, open })
            })
            .collect();
        let switches = inv
            .switches
            .values()
            .map(|s| {
                let declared: HashSet<String> = s.ports.iter().map(|p| p.name.to_string()).collect();
                let open = s.snmp.is_some() && declared.is_empty();
                (s.id.to_string(), Device { declared, open })
            })
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
