//! Discovery: which profile a device answers to, which ports or outlets it has, their names and
//! facts, and exactly which cells a poll must read.
//!
//! Identity is stable across re-discovery: a port is its ifName (ifDescr when empty; a repeated
//! name gets `#ifIndex`), an outlet its number ([`crate::profile::Numbering`]), so an ifIndex
//! renumbering after a reboot moves nothing. Every metric column is walked, so a poll only asks
//! for cells the device has.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::oid::{Oid, well_known};
use crate::profile::{DeviceKind, Metric, Numbering, Profile, Profiles, Role, Scale, Table};
use crate::snmp::{Session, SnmpError, SnmpValue};

/// A discovered resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The resource key: ifName, outlet number or `inlet`/`inlet-N`.
    pub id: Arc<str>,
    /// Port, outlet or inlet.
    pub role: Role,
    /// The device's name for it (outlet name, inlet label), if any.
    pub name: Option<String>,
    /// ifAlias.
    pub alias: Option<String>,
    /// ifHighSpeed, Mbit/s.
    pub speed_mbps: Option<u64>,
    /// ifOperStatus == up.
    pub oper_up: Option<bool>,
    /// The row index on the device (ifIndex and the like): changes across reboots.
    pub row: Vec<u32>,
}

/// One value a poll reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Where.
    pub oid: Oid,
    /// Index into [`Layout::resources`].
    pub resource: usize,
    /// What.
    pub metric: Metric,
    /// Unit conversion.
    pub scale: Scale,
    /// Decimal digits to divide by.
    pub digits: u32,
}

/// What a device is and what to poll on it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The chosen profile.
    pub profile: Arc<Profile>,
    /// `sysObjectID.0`, when it decodes.
    pub sys_object_id: Option<Oid>,
    /// Whether the device answers `sysUpTime.0` (then every poll request carries it).
    pub has_uptime: bool,
    /// Resources in discovery order.
    pub resources: Vec<Resource>,
    /// Cells, grouped by resource.
    pub cells: Vec<Cell>,
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// SNMP failed.
    #[error(transparent)]
    Snmp(#[from] SnmpError),
    /// No profile answers for this device.
    #[error("no profile for this {kind:?} (sysObjectID {sys_object_id})")]
    NoProfile {
        /// Device kind.
        kind: DeviceKind,
        /// What the device said.
        sys_object_id: String,
    },
}

/// Walk results by column, so shared columns are walked once.
struct Walks<'a> {
    session: &'a mut Session,
    done: HashMap<Oid, BTreeMap<Oid, SnmpValue>>,
}

impl Walks<'_> {
    async fn column(&mut self, col: &Oid) -> Result<&BTreeMap<Oid, SnmpValue>, SnmpError> {
        if !self.done.contains_key(col) {
            let rows = self.session.walk(col).await?;
            self.done.insert(col.clone(), rows.into_iter().collect());
        }
        Ok(&self.done[col])
    }

    /// The cell `col.index.suffix`.
    async fn cell(&mut self, col: &Oid, index: &[u32], suffix: &[u32]) -> Result<Option<&SnmpValue>, SnmpError> {
        let oid = col.join(index).join(suffix);
        Ok(self.column(col).await?.get(&oid))
    }
}

/// Picks the profile: sysObjectID first, probing second, the kind's fallback last.
pub async fn select(
    session: &mut Session,
    profiles: &Profiles,
    kind: DeviceKind,
) -> Result<(Arc<Profile>, Option<Oid>, bool), DiscoveryError> {
    let sys = Oid::from_parts(well_known::SYS_OBJECT_ID.to_vec());
    let up = Oid::from_parts(well_known::SYS_UPTIME.to_vec());
    let sys_object_id = match session.get(std::slice::from_ref(&sys)).await {
        Ok(vb) => vb.into_iter().next().and_then(|(_, v)| match v {
            SnmpValue::Oid(o) => Some(o),
            _ => None,
        }),
        // v1 agents answer a missing object with noSuchName.
        Err(SnmpError::Agent { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let has_uptime = match session.get(std::slice::from_ref(&up)).await {
        Ok(vb) => vb.first().is_some_and(|(_, v)| matches!(v, SnmpValue::Timeticks(_))),
        Err(SnmpError::Agent { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    if let Some(p) = sys_object_id.as_ref().and_then(|s| profiles.by_sys_object_id(kind, s)) {
        return Ok((Arc::clone(p), sys_object_id, has_uptime));
    }
    for p in profiles.probes(kind) {
        if let Some(probe) = &p.probe
            && !session.walk_first(probe).await?.is_empty()
        {
            return Ok((Arc::clone(p), sys_object_id, has_uptime));
        }
    }
    match profiles.fallback(kind) {
        Some(p) => Ok((Arc::clone(p), sys_object_id, has_uptime)),
        None => Err(DiscoveryError::NoProfile {
            kind,
            sys_object_id: sys_object_id.map_or_else(|| "unreadable".to_owned(), |o| o.to_string()),
        }),
    }
}

/// Discovers a device. `declared`: when the inventory lists resources, only those are polled.
pub async fn discover(
    session: &mut Session,
    profiles: &Profiles,
    kind: DeviceKind,
    declared: Option<&HashSet<String>>,
) -> Result<Layout, DiscoveryError> {
    let (profile, sys_object_id, has_uptime) = select(session, profiles, kind).await?;
    let mut walks = Walks { session, done: HashMap::new() };
    let mut resources = Vec::new();
    let mut cells = Vec::new();
    let mut seen: HashSet<Arc<str>> = HashSet::new();
    for table in &profile.tables {
        let found = table_resources(&mut walks, table).await?;
        let many_inlets = found.len() > 1;
        for (k, (mut r, table_cells)) in found.into_iter().enumerate() {
            if r.role == Role::Inlet {
                r.id = if many_inlets { format!("inlet-{}", k + 1).into() } else { "inlet".into() };
            }
            if seen.contains(&r.id) {
                let row: Vec<String> = r.row.iter().map(u32::to_string).collect();
                let renamed: Arc<str> = format!("{}#{}", r.id, row.join(".")).into();
                tracing::warn!(resource = %r.id, renamed = %renamed, "resource name repeated on the device");
                r.id = renamed;
            }
            if declared.is_some_and(|d| !d.is_empty() && !d.contains(&*r.id)) {
                continue;
            }
            seen.insert(Arc::clone(&r.id));
            let at = resources.len();
            cells.extend(table_cells.into_iter().map(|mut c: Cell| {
                c.resource = at;
                c
            }));
            resources.push(r);
        }
    }
    Ok(Layout { profile, sys_object_id, has_uptime, resources, cells })
}

fn text(v: Option<&SnmpValue>) -> Option<String> {
    v.and_then(SnmpValue::as_text).filter(|s| !s.is_empty())
}

/// The rows of one table with their cells (cell `resource` fields are set by the caller).
async fn table_resources(walks: &mut Walks<'_>, table: &Table) -> Result<Vec<(Resource, Vec<Cell>)>, SnmpError> {
    let rows: Vec<Vec<u32>> = walks
        .column(&table.rows)
        .await?
        .keys()
        .filter_map(|o| o.suffix_after(&table.rows).map(<[u32]>::to_vec))
        .collect();
    let mut kept = Vec::new();
    for index in rows {
        if let Some(f) = &table.filter {
            let v = walks.cell(&f.oid, &index, &[]).await?.and_then(SnmpValue::as_i64);
            if !v.is_some_and(|v| f.values.contains(&v)) {
                continue;
            }
        }
        kept.push(index);
    }
    // Units of a daisy chain, in index order.
    let units: BTreeSet<Vec<u32>> = match &table.numbering.unit {
        Some(u) => kept.iter().filter_map(|i| u.key(i).map(<[u32]>::to_vec)).collect(),
        None => BTreeSet::new(),
    };
    let mut out = Vec::new();
    for index in kept {
        let id: Arc<str> = match table.role {
            Role::Port | Role::Inlet => Arc::from(""),
            Role::Outlet => {
                let number = match &table.numbering.column {
                    Some(col) => walks
                        .cell(col, &index, &[])
                        .await?
                        .and_then(SnmpValue::as_u64)
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|&n| n > 0),
                    None => table.numbering.from_index(&index),
                };
                let unit_pos = match &table.numbering.unit {
                    Some(u) => u.key(&index).and_then(|k| units.iter().position(|x| x.as_slice() == k)).unwrap_or(0),
                    None => 0,
                };
                match number.and_then(|n| Numbering::outlet(n, unit_pos)) {
                    Some(n) => n.to_string().into(),
                    None => continue,
                }
            }
        };
        let mut name = match &table.name {
            Some(col) => text(walks.cell(col, &index, &[]).await?),
            None => None,
        };
        if name.is_none()
            && let Some(col) = &table.info.fallback_name
        {
            name = text(walks.cell(col, &index, &[]).await?);
        }
        let alias = match &table.info.alias {
            Some(col) => text(walks.cell(col, &index, &[]).await?),
            None => None,
        };
        let speed_mbps = match &table.info.speed_mbps {
            Some(col) => walks.cell(col, &index, &[]).await?.and_then(SnmpValue::as_u64),
            None => None,
        };
        let oper_up = match &table.info.oper_status {
            Some(col) => walks.cell(col, &index, &[]).await?.and_then(SnmpValue::as_i64).map(|s| s == 1),
            None => None,
        };
        let id = if table.role == Role::Port {
            let row: Vec<String> = index.iter().map(u32::to_string).collect();
            Arc::from(name.clone().unwrap_or_else(|| format!("ifIndex-{}", row.join("."))))
        } else {
            id
        };
        let mut cells = Vec::new();
        for m in &table.metrics {
            if walks.cell(&m.oid, &index, &m.suffix).await?.is_none_or(|v| !v.is_present()) {
                continue;
            }
            let digits = match &m.digits {
                Some(col) => walks.cell(col, &index, &m.suffix).await?.and_then(SnmpValue::as_u64).unwrap_or(0),
                None => 0,
            };
            cells.push(Cell {
                oid: m.oid.join(&index).join(&m.suffix),
                resource: 0,
                metric: m.metric,
                scale: m.scale,
                digits: u32::try_from(digits.min(9)).unwrap_or(0),
            });
        }
        if cells.iter().all(|c| matches!(c.metric, Metric::Discontinuity | Metric::OperStatus)) {
            continue;
        }
        out.push((Resource { id, role: table.role, name, alias, speed_mbps, oper_up, row: index }, cells));
    }
    Ok(out)
}
