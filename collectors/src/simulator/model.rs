//! The simulated fleet: devices, their OID trees and their values at any instant.
//!
//! Everything is a closed-form function of `(seed, device, time)`, so any instant costs O(1)
//! and two runs with one seed agree to the byte. Traffic follows a shared daily shape (quiet at
//! 04:00, busiest at 20:00, piecewise linear between hourly anchors), scaled per port, with one
//! hour-long burst per port per week; each device reboots on its own period (7 to 30 days), which
//! resets its octet counters and sysUpTime. Outlet power follows the same shape at a per-outlet
//! level; energy is its exact integral and survives reboots (PDUs keep energy in flash).
//!
//! Switches answer as IF-MIB devices (48 ports); PDUs as Raritan PX (PDU2-MIB, 24 outlets and
//! one inlet), so polling the simulator runs the real profile code.

use std::sync::Arc;

/// One cell kind of a device's tree; the index says which port, outlet or sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// sysDescr.0
    SysDescr,
    /// sysObjectID.0
    SysObjectId,
    /// sysUpTime.0
    SysUpTime,
    /// sysName.0
    SysName,
    /// ifDescr.i
    IfDescr(u32),
    /// ifOperStatus.i
    IfOperStatus(u32),
    /// ifName.i
    IfName(u32),
    /// ifHCInOctets.i
    IfHcIn(u32),
    /// ifHCOutOctets.i
    IfHcOut(u32),
    /// ifHighSpeed.i
    IfHighSpeed(u32),
    /// ifAlias.i
    IfAlias(u32),
    /// PDU2-MIB inletLabel.1.1
    InletLabel,
    /// inletSensorDecimalDigits.1.1.type
    InletDigits(u32),
    /// measurementsInletSensorValue.1.1.type
    InletValue(u32),
    /// outletLabel.1.o
    OutletLabel(u32),
    /// outletName.1.o
    OutletName(u32),
    /// outletSensorDecimalDigits.1.o.type
    OutletDigits(u32, u32),
    /// measurementsOutletSensorValue.1.o.type
    OutletValue(u32, u32),
}

/// What a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An IF-MIB switch.
    Switch,
    /// A Raritan-like PDU.
    Pdu,
}

/// Ports per simulated switch.
pub const PORTS: u32 = 48;
/// Outlets per simulated PDU.
pub const OUTLETS: u32 = 24;
/// PDU2-MIB sensor types used: active power (W) and active energy (Wh).
pub const SENSOR_POWER: u32 = 5;
/// Active energy.
pub const SENSOR_ENERGY: u32 = 8;

/// A device's sorted OID tree (shared by every device of a kind).
#[derive(Debug)]
pub struct Tree {
    /// Sorted OIDs with their cells.
    pub cells: Vec<(Vec<u32>, Cell)>,
}

fn p(prefix: &[u32], tail: &[u32]) -> Vec<u32> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(tail);
    v
}

impl Tree {
    /// The tree of `kind`.
    pub fn new(kind: Kind) -> Self {
        let sys = [1, 3, 6, 1, 2, 1, 1];
        let mut cells = vec![
            (p(&sys, &[1, 0]), Cell::SysDescr),
            (p(&sys, &[2, 0]), Cell::SysObjectId),
            (p(&sys, &[3, 0]), Cell::SysUpTime),
            (p(&sys, &[5, 0]), Cell::SysName),
        ];
        match kind {
            Kind::Switch => {
                let if_entry = [1, 3, 6, 1, 2, 1, 2, 2, 1];
                let ifx = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
                for i in 1..=PORTS {
                    cells.push((p(&if_entry, &[2, i]), Cell::IfDescr(i)));
                    cells.push((p(&if_entry, &[8, i]), Cell::IfOperStatus(i)));
                    cells.push((p(&ifx, &[1, i]), Cell::IfName(i)));
                    cells.push((p(&ifx, &[6, i]), Cell::IfHcIn(i)));
                    cells.push((p(&ifx, &[10, i]), Cell::IfHcOut(i)));
                    cells.push((p(&ifx, &[15, i]), Cell::IfHighSpeed(i)));
                    cells.push((p(&ifx, &[18, i]), Cell::IfAlias(i)));
                }
            }
            Kind::Pdu => {
                let r = [1, 3, 6, 1, 4, 1, 13742, 6];
                cells.push((p(&r, &[3, 3, 3, 1, 2, 1, 1]), Cell::InletLabel));
                for t in [SENSOR_POWER, SENSOR_ENERGY] {
                    cells.push((p(&r, &[3, 3, 4, 1, 7, 1, 1, t]), Cell::InletDigits(t)));
                    cells.push((p(&r, &[5, 2, 3, 1, 4, 1, 1, t]), Cell::InletValue(t)));
                }
                for o in 1..=OUTLETS {
                    cells.push((p(&r, &[3, 5, 3, 1, 2, 1, o]), Cell::OutletLabel(o)));
                    cells.push((p(&r, &[3, 5, 3, 1, 3, 1, o]), Cell::OutletName(o)));
                    for t in [SENSOR_POWER, SENSOR_ENERGY] {
                        cells.push((p(&r, &[3, 5, 4, 1, 7, 1, o, t]), Cell::OutletDigits(o, t)));
                        cells.push((p(&r, &[5, 4, 3, 1, 4, 1, o, t]), Cell::OutletValue(o, t)));
                    }
                }
            }
        }
        cells.sort_by(|a, b| a.0.cmp(&b.0));
        Self { cells }
    }

    /// The cell at exactly `oid`.
    pub fn get(&self, oid: &[u32]) -> Option<(usize, Cell)> {
        self.cells.binary_search_by(|(o, _)| o.as_slice().cmp(oid)).ok().map(|i| (i, self.cells[i].1))
    }

    /// The first position after `oid`.
    pub fn next_index(&self, oid: &[u32]) -> usize {
        self.cells.partition_point(|(o, _)| o.as_slice() <= oid)
    }
}

/// A simulated device.
#[derive(Debug, Clone)]
pub struct Device {
    /// ID and community string.
    pub id: Arc<str>,
    /// Kind.
    pub kind: Kind,
    /// Per-device seed.
    pub seed: u64,
}

/// A value to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimValue {
    /// INTEGER.
    Integer(i64),
    /// OCTET STRING.
    Text(String),
    /// OBJECT IDENTIFIER.
    Oid(&'static [u32]),
    /// Gauge32.
    Gauge(u32),
    /// TimeTicks.
    Ticks(u32),
    /// Counter64.
    Counter64(u64),
}

/// splitmix64: the seeded hash every property comes from.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hourly anchors of the daily shape (percent of peak).
const ANCHORS: [u64; 25] =
    [30, 25, 22, 20, 22, 30, 45, 60, 70, 75, 78, 80, 82, 80, 78, 80, 85, 90, 100, 98, 90, 75, 55, 40, 30];
const SLOT_MS: u64 = 300_000;
const SLOTS: usize = 288;
const DAY_MS: u64 = 86_400_000;
const WEEK_MS: u64 = 7 * DAY_MS;

/// The daily shape: per 5-minute slot weights and their prefix integrals (weight × ms).
#[derive(Debug)]
pub struct Shape {
    weight: [u64; SLOTS],
    prefix: [u64; SLOTS + 1],
}

impl Default for Shape {
    fn default() -> Self {
        let mut weight = [0; SLOTS];
        for (s, w) in weight.iter_mut().enumerate() {
            let (h, k) = (s / 12, s as u64 % 12);
            *w = (ANCHORS[h] * (12 - k) + ANCHORS[h + 1] * k) / 12;
        }
        let mut prefix = [0; SLOTS + 1];
        for s in 0..SLOTS {
            prefix[s + 1] = prefix[s] + weight[s] * SLOT_MS;
        }
        Self { weight, prefix }
    }
}

impl Shape {
    /// ∫ weight dt from the epoch to `t_ms` (weight × ms; 100 = peak).
    pub fn integral(&self, t_ms: u64) -> u128 {
        let days = u128::from(t_ms / DAY_MS);
        let in_day = t_ms % DAY_MS;
        let slot = (in_day / SLOT_MS) as usize;
        days * u128::from(self.prefix[SLOTS])
            + u128::from(self.prefix[slot])
            + u128::from(self.weight[slot] * (in_day % SLOT_MS))
    }

    /// The weight at `t_ms`.
    pub fn weight(&self, t_ms: u64) -> u64 {
        self.weight[((t_ms % DAY_MS) / SLOT_MS) as usize]
    }
}

impl Device {
    /// The last boot at or before `t_ms`.
    pub fn boot_ms(&self, t_ms: u64) -> u64 {
        let period = (7 + mix(self.seed ^ 0xb007) % 24) * DAY_MS;
        let phase = mix(self.seed ^ 0xfa5e) % period;
        if t_ms < phase { 0 } else { (t_ms - phase) / period * period + phase }
    }

    /// A port's peak rate in bytes per second (0 for an unused port), per direction.
    /// A port's ifOperStatus: down (2) when it carries no traffic in, else up (1).
    pub fn oper_status(&self, port: u32) -> u32 {
        if self.port_rate(port, 0) == 0 { 2 } else { 1 }
    }

    fn port_rate(&self, port: u32, dir: u64) -> u64 {
        let h = mix(self.seed ^ (u64::from(port) << 8) ^ dir);
        if h.is_multiple_of(5) {
            return 0;
        }
        // Up to ~30% of a 10G port at peak.
        (h >> 8) % 375_000_000
    }

    /// A port's octet count since the epoch (before reboots are applied).
    fn octets_since_epoch(&self, shape: &Shape, port: u32, dir: u64, t_ms: u64) -> u128 {
        let rate = u128::from(self.port_rate(port, dir));
        let base = rate * shape.integral(t_ms) / 100_000;
        // One hour-long burst a week at twice the peak rate.
        let burst_at = mix(self.seed ^ u64::from(port) ^ 0xb0) % 168 * 3_600_000;
        let in_week = t_ms % WEEK_MS;
        let this_week = in_week.saturating_sub(burst_at).min(3_600_000);
        let burst = 2 * rate * u128::from((t_ms / WEEK_MS) * 3_600_000 + this_week) / 1000;
        base + burst
    }

    /// ifHCIn/OutOctets at `t_ms`: zero at the last boot.
    pub fn octets(&self, shape: &Shape, port: u32, dir: u64, t_ms: u64) -> u64 {
        let boot = self.boot_ms(t_ms);
        let n = self.octets_since_epoch(shape, port, dir, t_ms) - self.octets_since_epoch(shape, port, dir, boot);
        (n % (1u128 << 64)) as u64
    }

    /// An outlet's base power in W (0 for an empty outlet).
    fn outlet_base_w(&self, outlet: u32) -> u64 {
        let h = mix(self.seed ^ (u64::from(outlet) << 16) ^ 0x9e);
        if h.is_multiple_of(6) { 0 } else { 80 + (h >> 8) % 420 }
    }

    /// Active power in W at `t_ms`: 80% of base plus up to 20% with the daily shape.
    pub fn power_w(&self, shape: &Shape, outlet: u32, t_ms: u64) -> u64 {
        self.outlet_base_w(outlet) * (8000 + 20 * shape.weight(t_ms)) / 10_000
    }

    /// Active energy in Wh at `t_ms`: the exact integral of the power curve, floored.
    pub fn energy_wh(&self, shape: &Shape, outlet: u32, t_ms: u64) -> u64 {
        let base = u128::from(self.outlet_base_w(outlet));
        // ∫ base × (0.8 + 0.002 × weight) dt, in W·ms, then Wh.
        let wms = base * (8000 * u128::from(t_ms) + 20 * shape.integral(t_ms)) / 10_000;
        (wms / 3_600_000) as u64
    }

    /// The value of `cell` at `t_ms`.
    pub fn value(&self, shape: &Shape, cell: Cell, t_ms: u64) -> SimValue {
        const SWITCH_OID: &[u32] = &[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10];
        const RARITAN_OID: &[u32] = &[1, 3, 6, 1, 4, 1, 13742, 6];
        match cell {
            Cell::SysDescr => SimValue::Text(match self.kind {
                Kind::Switch => "colometer simulated switch".into(),
                Kind::Pdu => "colometer simulated PDU (PDU2-MIB)".into(),
            }),
            Cell::SysObjectId => SimValue::Oid(match self.kind {
                Kind::Switch => SWITCH_OID,
                Kind::Pdu => RARITAN_OID,
            }),
            Cell::SysUpTime => SimValue::Ticks((((t_ms - self.boot_ms(t_ms)) / 10) % (1 << 32)) as u32),
            Cell::SysName => SimValue::Text(self.id.to_string()),
            Cell::IfDescr(i) => SimValue::Text(format!("Ethernet port {i}")),
            Cell::IfOperStatus(i) => SimValue::Integer(i64::from(self.oper_status(i))),
            Cell::IfName(i) => SimValue::Text(format!("Ethernet{i}")),
            Cell::IfHcIn(i) => SimValue::Counter64(self.octets(shape, i, 0, t_ms)),
            Cell::IfHcOut(i) => SimValue::Counter64(self.octets(shape, i, 1, t_ms)),
            Cell::IfHighSpeed(_) => SimValue::Gauge(10_000),
            Cell::IfAlias(i) => SimValue::Text(format!("customer port {i}")),
            Cell::InletLabel => SimValue::Text("I1".into()),
            Cell::InletDigits(_) | Cell::OutletDigits(..) => SimValue::Gauge(0),
            Cell::InletValue(t) => {
                let sum = |f: &dyn Fn(u32) -> u64| (1..=OUTLETS).map(f).sum::<u64>();
                SimValue::Gauge(if t == SENSOR_POWER {
                    sum(&|o| self.power_w(shape, o, t_ms)) as u32
                } else {
                    sum(&|o| self.energy_wh(shape, o, t_ms)) as u32
                })
            }
            Cell::OutletLabel(o) => SimValue::Text(o.to_string()),
            Cell::OutletName(o) => SimValue::Text(format!("{}-outlet-{o}", self.id)),
            Cell::OutletValue(o, t) => SimValue::Gauge(if t == SENSOR_POWER {
                self.power_w(shape, o, t_ms) as u32
            } else {
                (self.energy_wh(shape, o, t_ms) % (1 << 32)) as u32
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device { id: "sw-0001".into(), kind: Kind::Switch, seed: 42 }
    }

    #[test]
    fn counters_advance_and_reset_at_boot() {
        let shape = Shape::default();
        let d = dev();
        let t = 1_790_000_000_000u64;
        let boot = d.boot_ms(t);
        assert!(boot <= t);
        assert_eq!(d.octets(&shape, 1, 0, boot), 0);
        let port = (1..=PORTS).find(|&p| d.port_rate(p, 0) > 0).unwrap();
        let a = d.octets(&shape, port, 0, boot + 10_000);
        let b = d.octets(&shape, port, 0, boot + 20_000);
        assert!(b > a && a > 0);
        // Deterministic.
        assert_eq!(d.octets(&shape, port, 0, t), dev().octets(&shape, port, 0, t));
    }

    #[test]
    fn energy_is_the_integral_of_power() {
        let shape = Shape::default();
        let d = Device { id: "pdu-0001".into(), kind: Kind::Pdu, seed: 7 };
        let o = (1..=OUTLETS).find(|&o| d.outlet_base_w(o) > 0).unwrap();
        let t = 1_790_000_000_000u64;
        // One hour at a roughly constant power: energy grows by about the power.
        let e = d.energy_wh(&shape, o, t + 3_600_000) - d.energy_wh(&shape, o, t);
        let p = d.power_w(&shape, o, t);
        assert!(e.abs_diff(p) <= p / 5 + 1, "{e} Wh vs {p} W");
    }

    #[test]
    fn tree_is_sorted_and_searchable() {
        let t = Tree::new(Kind::Pdu);
        assert!(t.cells.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 1, 3, 0]).map(|c| c.1), Some(Cell::SysUpTime));
        let i = t.next_index(&[1, 3, 6, 1, 4, 1, 13742, 6, 5, 4, 3, 1, 4, 1, 1]);
        assert_eq!(t.cells[i].1, Cell::OutletValue(1, SENSOR_POWER));
    }
}
