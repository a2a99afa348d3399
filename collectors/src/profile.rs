//! Device profiles: which OIDs a kind of device answers and what they mean, as data files
//! (`collectors/profiles/*.toml`, embedded in the binary), never as code branches.
//!
//! A profile is chosen by the longest `sys_object_id` prefix matching the device's
//! `sysObjectID.0`; a device whose sysObjectID matches none (or is malformed, as some PDUs
//! report) is probed: the first profile of its kind whose `probe` column has rows wins; a switch
//! always falls back to plain IF-MIB.
//!
//! A profile lists tables. Each table's rows are found by walking its `rows` column (the row
//! index is the OID suffix after the column); per row, `metrics` are polled at
//! `metric.oid + row index + metric.suffix` and converted with the metric's `scale`
//! (a decimal such as `"0.1"` or a fraction such as `"1/360"`) and optional `digits` column
//! (the value is divided by 10^digits, as Raritan states its precision per sensor).

use std::collections::BTreeMap;

use engine::domain::metric;

use crate::oid::Oid;

pub mod numbering;
pub mod scale;

pub use numbering::{Numbering, UnitParts};
pub use scale::Scale;

/// What kind of device a profile reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A PDU.
    Pdu,
    /// A switch.
    Switch,
}

/// What a table's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Switch ports, identified by name (ifName; ifDescr when empty).
    Port,
    /// PDU outlets, identified by number (`numbering`).
    Outlet,
    /// Whole-unit meters (inlet, input cord or unit total) of a PDU with no per-outlet metering:
    /// resource `inlet` (or `inlet-N` when the table has several rows, in row order).
    Inlet,
}

/// A measured quantity, named as the line protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Received octets (64-bit counter).
    InOctets,
    /// Sent octets (64-bit counter).
    OutOctets,
    /// Active power, W.
    PowerW,
    /// Cumulative energy, Wh.
    EnergyWh,
    /// ifCounterDiscontinuityTime (TimeTicks): stored as the sample's discontinuity marker.
    Discontinuity,
    /// ifOperStatus (1 up, 2 down, … 7 lowerLayerDown), stored as reported: port-level SLA
    /// outages are read from it.
    OperStatus,
}

impl Metric {
    /// The line-protocol field name.
    pub fn name(self) -> &'static str {
        match self {
            Self::InOctets => metric::IN_OCTETS,
            Self::OutOctets => metric::OUT_OCTETS,
            Self::PowerW => metric::POWER_W,
            Self::EnergyWh => metric::ENERGY_WH,
            Self::Discontinuity => metric::DISCONTINUITY,
            Self::OperStatus => metric::OPER_STATUS,
        }
    }

    /// Whether the raw value is stored as is (counters and markers are never scaled).
    pub fn is_raw(self) -> bool {
        matches!(self, Self::InOctets | Self::OutOctets | Self::Discontinuity)
    }
}

/// A polled column.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricColumn {
    /// What it measures.
    pub metric: Metric,
    /// The column.
    pub oid: Oid,
    /// Sub-identifiers after the row index (Raritan's sensor type).
    #[serde(default)]
    pub suffix: Vec<u32>,
    /// Device unit → metric unit (`"1"`, `"0.1"`, `"100"`, `"1/360"`).
    #[serde(default)]
    pub scale: Scale,
    /// A column (same index and suffix) holding decimal digits: the value is divided by 10^digits.
    #[serde(default)]
    pub digits: Option<Oid>,
}

/// A row filter: only rows whose `oid` column equals one of `values`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The column.
    pub oid: Oid,
    /// Accepted integer values.
    pub values: Vec<i64>,
}

/// Per-row facts read at discovery.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Info {
    /// A name column that is used when `name` is empty (ifDescr).
    pub fallback_name: Option<Oid>,
    /// A description column (ifAlias).
    pub alias: Option<Oid>,
    /// Speed in Mbit/s (ifHighSpeed).
    pub speed_mbps: Option<Oid>,
    /// Operational status (ifOperStatus; 1 = up).
    pub oper_status: Option<Oid>,
}

/// A table of resources.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// What the rows are.
    pub role: Role,
    /// The column whose walk enumerates the rows.
    pub rows: Oid,
    /// The name column, if the device has one.
    #[serde(default)]
    pub name: Option<Oid>,
    /// How an outlet row gets its number.
    #[serde(default)]
    pub numbering: Numbering,
    /// Which rows count.
    #[serde(default)]
    pub filter: Option<Filter>,
    /// Facts read once per discovery.
    #[serde(default)]
    pub info: Info,
    /// Polled columns.
    pub metrics: Vec<MetricColumn>,
}

/// A device profile.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Stable ID (`raritan-pdu2`, `if-mib`, …), shown by the device API.
    pub id: String,
    /// Vendor and MIB, for people.
    pub description: String,
    /// Device kind.
    pub kind: DeviceKind,
    /// sysObjectID prefixes this profile answers for.
    #[serde(default)]
    pub sys_object_id: Vec<Oid>,
    /// A column whose having rows identifies the device when its sysObjectID matches nothing.
    #[serde(default)]
    pub probe: Option<Oid>,
    /// The resource tables; every table with rows is read (a PDU's outlets where it meters them,
    /// and its inlet or unit total, which is all some PDUs have).
    pub tables: Vec<Table>,
}

/// Why a profile file is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Not valid TOML for a profile.
    #[error("profile {file}: {message}")]
    Syntax {
        /// File name.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A counter or marker column has a scale or digits.
    #[error("profile {file}: {metric} is stored raw and cannot be scaled")]
    ScaledCounter {
        /// File name.
        file: String,
        /// The metric.
        metric: &'static str,
    },
    /// Two profiles share an ID.
    #[error("profile ID {0:?} is defined twice")]
    Duplicate(String),
}

impl Profile {
    /// Parses and checks one profile file.
    pub fn parse(file: &str, text: &str) -> Result<Self, ProfileError> {
        let p: Profile =
            toml::from_str(text).map_err(|e| ProfileError::Syntax { file: file.to_owned(), message: e.to_string() })?;
        for t in &p.tables {
            for m in &t.metrics {
                if m.metric.is_raw() && (m.scale != Scale::ONE || m.digits.is_some()) {
                    return Err(ProfileError::ScaledCounter { file: file.to_owned(), metric: m.metric.name() });
                }
            }
        }
        Ok(p)
    }
}

/// The profiles shipped in the binary (`collectors/profiles/`).
const BUILTIN: &[(&str, &str)] = &[
    ("if-mib.toml", include_str!("../profiles/if-mib.toml")),
    ("raritan-pdu2.toml", include_str!("../profiles/raritan-pdu2.toml")),
    ("eaton-epdu.toml", include_str!("../profiles/eaton-epdu.toml")),
    ("apc-cpdu.toml", include_str!("../profiles/apc-cpdu.toml")),
    ("apc-rpdu2.toml", include_str!("../profiles/apc-rpdu2.toml")),
    ("sentry4.toml", include_str!("../profiles/sentry4.toml")),
    ("vertiv-v5.toml", include_str!("../profiles/vertiv-v5.toml")),
    ("enlogic.toml", include_str!("../profiles/enlogic.toml")),
    ("chatsworth-cpi.toml", include_str!("../profiles/chatsworth-cpi.toml")),
    ("dell-rpdu.toml", include_str!("../profiles/dell-rpdu.toml")),
    ("rnx-updu.toml", include_str!("../profiles/rnx-updu.toml")),
];

/// A set of profiles and the selection rule.
#[derive(Debug, Clone)]
pub struct Profiles {
    by_id: BTreeMap<String, std::sync::Arc<Profile>>,
}

impl Profiles {
    /// The built-in profiles.
    pub fn builtin() -> Result<Self, ProfileError> {
        Self::from_files(BUILTIN.iter().map(|(f, t)| (f.to_string(), t.to_string())))
    }

    /// Profiles from `(file name, text)` pairs.
    pub fn from_files(files: impl IntoIterator<Item = (String, String)>) -> Result<Self, ProfileError> {
        let mut by_id = BTreeMap::new();
        for (file, text) in files {
            let p = Profile::parse(&file, &text)?;
            if by_id.contains_key(&p.id) {
                return Err(ProfileError::Duplicate(p.id));
            }
            by_id.insert(p.id.clone(), std::sync::Arc::new(p));
        }
        Ok(Self { by_id })
    }

    /// A profile by ID.
    pub fn get(&self, id: &str) -> Option<&std::sync::Arc<Profile>> {
        self.by_id.get(id)
    }

    /// The profile whose longest sysObjectID prefix matches, among those of `kind`.
    pub fn by_sys_object_id(&self, kind: DeviceKind, sys_object_id: &Oid) -> Option<&std::sync::Arc<Profile>> {
        self.by_id
            .values()
            .filter(|p| p.kind == kind)
            .filter_map(|p| {
                p.sys_object_id
                    .iter()
                    .filter(|pre| sys_object_id.starts_with(pre))
                    .map(|pre| pre.parts().len())
                    .max()
                    .map(|l| (l, p))
            })
            .max_by_key(|(l, _)| *l)
            .map(|(_, p)| p)
    }

    /// Profiles of `kind` that can be probed, in ID order.
    pub fn probes(&self, kind: DeviceKind) -> impl Iterator<Item = &std::sync::Arc<Profile>> {
        self.by_id.values().filter(move |p| p.kind == kind && p.probe.is_some())
    }

    /// The profile used for a switch nothing else matches.
    pub fn fallback(&self, kind: DeviceKind) -> Option<&std::sync::Arc<Profile>> {
        match kind {
            DeviceKind::Switch => self.by_id.get("if-mib"),
            DeviceKind::Pdu => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_select() {
        let p = Profiles::builtin().unwrap();
        let sel = |s: &str| p.by_sys_object_id(DeviceKind::Pdu, &Oid::parse(s).unwrap()).map(|p| p.id.clone());
        assert_eq!(sel("1.3.6.1.4.1.13742.6").as_deref(), Some("raritan-pdu2"));
        assert_eq!(sel("1.3.6.1.4.1.534.6.6.7").as_deref(), Some("eaton-epdu"));
        assert_eq!(sel("1.3.6.1.4.1.318.1.1.32.1").as_deref(), Some("apc-cpdu"));
        assert_eq!(sel("1.3.6.1.4.1.318.1.3.4.6").as_deref(), Some("apc-rpdu2"));
        assert_eq!(sel(".1.3.6.1.4.1.674.10903.200.3.1").as_deref(), Some("dell-rpdu"));
        assert_eq!(sel("1.3.6.1.4.1.9.1.1208"), None);
        assert_eq!(p.fallback(DeviceKind::Switch).map(|p| p.id.as_str()), Some("if-mib"));
        assert!(p.probes(DeviceKind::Pdu).any(|p| p.id == "chatsworth-cpi"));
    }

    #[test]
    fn counters_cannot_be_scaled() {
        let t = r#"id = "x"
description = "x"
kind = "switch"
[[tables]]
role = "port"
rows = "1.3"
metrics = [{ metric = "in_octets", oid = "1.3.6", scale = "8" }]
"#;
        assert!(matches!(Profile::parse("x.toml", t), Err(ProfileError::ScaledCounter { .. })));
        let bad = "id = 1";
        assert!(matches!(Profile::parse("y.toml", bad), Err(ProfileError::Syntax { .. })));
    }
}
