//! Readers for the physical plant: sites, racks, PDUs, switches, assets, PUE values.

use serde_json::Value;

use crate::domain::asset::{Asset, AssetKind, AssetStatus};
use crate::domain::device::{
    AuthProtocol, OutletDecl, Pdu, PollInterval, PortDecl, PrivProtocol, SnmpTarget, SnmpVersion, Switch,
};
use crate::domain::{PueValue, Rack, RackLocation, Site};
use crate::id::PortName;
use crate::inventory::reader::{Obj, Problems, decimal, one_of, parsed, positive, text, timestamp, uint};
use crate::time::Interval;

pub(super) fn site(v: &Value, path: String, probs: &mut Problems) -> Option<Site> {
    let mut o = Obj::open(v, path, &["id", "name", "pue", "grid_region"], probs)?;
    let id: Option<crate::id::SiteId> = o.req("id", parsed);
    let name = o.opt("name", text);
    let pue = o.req("pue", pue_value);
    let grid_region = o.opt("grid_region", parsed);
    o.finish().then_some(())?;
    let id = id?;
    Some(Site { name: name.unwrap_or_else(|| id.to_string()), id, pue: pue?, grid_region })
}

fn pue_value(v: &Value) -> Result<rust_decimal::Decimal, String> {
    let d = decimal(v)?;
    if d < rust_decimal::Decimal::ONE {
        return Err(format!("PUE must be at least 1, found {d}"));
    }
    Ok(d)
}

/// Reads `from` (required) and `to` (optional) of an object into an interval.
pub(super) fn interval(o: &mut Obj<'_, '_>) -> Option<Interval> {
    let from = o.req("from", timestamp);
    let to = o.opt("to", timestamp);
    let from = from?;
    match Interval::new(from, to) {
        Ok(i) => Some(i),
        Err(e) => {
            o.fail("to", e.to_string());
            None
        }
    }
}

pub(super) fn rack(v: &Value, path: String, probs: &mut Problems) -> Option<Rack> {
    let mut o = Obj::open(v, path, &["id", "site", "power_budget_kw", "customer", "locations"], probs)?;
    let id = o.req("id", parsed);
    let site = o.req("site", parsed);
    let power_budget_kw = o.req("power_budget_kw", positive);
    let customer = o.opt("customer", parsed);
    let locations = o.list("locations", |v, path, probs| {
        let mut o = Obj::open(v, path, &["site", "from", "to"], probs)?;
        let site = o.req("site", parsed);
        let interval = interval(&mut o);
        o.finish().then_some(())?;
        Some(RackLocation { site: site?, interval: interval? })
    });
    o.finish().then_some(())?;
    Some(Rack { id: id?, site: site?, power_budget_kw: power_budget_kw?, customer, locations })
}

fn poll_interval(v: &Value) -> Result<PollInterval, String> {
    PollInterval::parse(&text(v)?).map_err(|e| e.to_string())
}

fn snmp(v: &Value, path: String, probs: &mut Problems) -> Option<SnmpTarget> {
    const FIELDS: &[&str] =
        &["host", "port", "version", "community", "user", "auth", "auth_key", "privacy", "priv_key"];
    let mut o = Obj::open(v, path, FIELDS, probs)?;
    let host = o.req("host", text);
    let port = o.opt("port", uint::<u16>).unwrap_or(161);
    let version =
        o.req("version", one_of(&["v1", "v2c", "v3"], |s| ["v1", "v2c", "v3"].contains(&s).then(|| s.to_owned())));
    let version = match version.as_deref() {
        Some("v3") => {
            if o.has("community") {
                o.fail("community", "is only for v1 and v2c; v3 uses user, auth and privacy");
            }
            let user = o.req("user", text);
            let auth =
                o.opt("auth", one_of(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"], AuthProtocol::parse));
            let privacy = o.opt("privacy", one_of(&["des", "aes128", "aes192", "aes256"], PrivProtocol::parse));
            let auth_key = o.opt("auth_key", text);
            let priv_key = o.opt("priv_key", text);
            match (auth.is_some(), auth_key.is_some()) {
                (true, false) => o.fail("auth_key", "is required when auth is set"),
                (false, true) => o.fail("auth", "is required when auth_key is set"),
                _ => {}
            }
            match (privacy.is_some(), priv_key.is_some()) {
                (true, false) => o.fail("priv_key", "is required when privacy is set"),
                (false, true) => o.fail("privacy", "is required when priv_key is set"),
                _ => {}
            }
            if privacy.is_some() && auth.is_none() && !o.has("auth") {
                o.fail("privacy", "requires auth (SNMPv3 has no privacy without authentication)");
            }
            if let Some(k) = auth_key.as_ref().filter(|k| k.len() < 8) {
                o.fail("auth_key", format!("must be at least 8 characters (RFC 3414), found {}", k.len()));
            }
            if let Some(k) = priv_key.as_ref().filter(|k| k.len() < 8) {
                o.fail("priv_key", format!("must be at least 8 characters (RFC 3414), found {}", k.len()));
            }
            user.map(|user| SnmpVersion::V3 { user, auth, auth_key, privacy, priv_key })
        }
        Some(v) => {
            for k in ["user", "auth", "auth_key", "privacy", "priv_key"] {
                if o.has(k) {
                    o.fail(k, "is only for v3");
                }
            }
            let community = o.req("community", text);
            community.map(
                |community| {
                    if v == "v1" { SnmpVersion::V1 { community } } else { SnmpVersion::V2c { community } }
                },
            )
        }
        None => None,
    };
    if port == 0 {
        o.fail("port", "must be 1 to 65535");
    }
    o.finish().then_some(())?;
    Some(SnmpTarget { host: host?, port, version: version? })
}

pub(super) fn pdu(v: &Value, path: String, probs: &mut Problems) -> Option<Pdu> {
    let mut o = Obj::open(v, path, &["id", "rack", "site", "snmp", "interval", "outlets"], probs)?;
    let id = o.req("id", parsed);
    let rack = o.opt("rack", parsed);
    let site = o.opt("site", parsed);
    let snmp = o.nested("snmp", snmp);
    let interval = o.opt("interval", poll_interval);
    let outlets = o.list("outlets", |v, path, probs| {
        let mut o = Obj::open(v, path, &["index", "name", "asset"], probs)?;
        let index = o.req("index", uint::<u32>);
        if index == Some(0) {
            o.fail("index", "outlet indices start at 1");
        }
        let name = o.opt("name", text);
        let asset = o.opt("asset", parsed);
        o.finish().then_some(())?;
        Some(OutletDecl { index: index?, name, asset })
    });
    o.finish().then_some(())?;
    Some(Pdu { id: id?, rack, site, snmp, interval, outlets })
}

pub(super) fn switch(v: &Value, path: String, probs: &mut Problems) -> Option<Switch> {
    let mut o = Obj::open(v, path, &["id", "site", "rack", "snmp", "interval", "ports"], probs)?;
    let id = o.req("id", parsed);
    let site = o.opt("site", parsed);
    let rack = o.opt("rack", parsed);
    let snmp = o.nested("snmp", snmp);
    let interval = o.opt("interval", poll_interval);
    let ports = o.list("ports", |v, path, probs| {
        let mut o = Obj::open(v, path, &["name", "speed_mbps", "lag", "asset"], probs)?;
        let name = o.req("name", port_name);
        let speed_mbps = o.opt("speed_mbps", uint::<u64>);
        if speed_mbps == Some(0) {
            o.fail("speed_mbps", "must be greater than zero");
        }
        let lag = o.opt("lag", port_name);
        let asset = o.opt("asset", parsed);
        o.finish().then_some(())?;
        Some(PortDecl { name: name?, speed_mbps, lag, asset })
    });
    o.finish().then_some(())?;
    Some(Switch { id: id?, site, rack, snmp, interval, ports })
}

fn port_name(v: &Value) -> Result<PortName, String> {
    PortName::new(text(v)?).map_err(|e| e.to_string())
}

pub(super) fn asset(v: &Value, path: String, probs: &mut Problems) -> Option<Asset> {
    const FIELDS: &[&str] = &[
        "id",
        "kind",
        "serial",
        "model",
        "warranty_end",
        "rack",
        "site",
        "customer",
        "status",
        "active_from",
        "retired_at",
    ];
    let mut o = Obj::open(v, path, FIELDS, probs)?;
    let id = o.req("id", parsed);
    let kind = o
        .opt("kind", one_of(&["server", "storage", "network", "other"], AssetKind::parse))
        .unwrap_or(AssetKind::Server);
    let serial = o.opt("serial", text);
    let model = o.opt("model", text);
    let warranty_end = o.opt("warranty_end", |v| {
        let s = text(v)?;
        chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
    });
    let rack = o.opt("rack", parsed);
    let site = o.opt("site", parsed);
    let customer = o.opt("customer", parsed);
    let status = o.opt(
        "status",
        one_of(&["planned", "active", "retired"], |s| {
            ["planned", "active", "retired"].contains(&s).then(|| s.to_owned())
        }),
    );
    let since = o.opt("active_from", timestamp);
    let retired = o.opt("retired_at", timestamp);
    let status = match (status.as_deref().unwrap_or("active"), retired) {
        ("planned", None) => {
            if since.is_some() {
                o.fail("active_from", "a planned asset is not active yet");
            }
            Some(AssetStatus::Planned)
        }
        ("active", None) => Some(AssetStatus::Active { since }),
        ("retired", Some(at)) => match since {
            Some(s) if at <= s => {
                o.fail("retired_at", format!("must be after active_from ({s})"));
                None
            }
            _ => Some(AssetStatus::Retired { since, at }),
        },
        ("retired", None) => {
            o.fail("retired_at", "is required when status is retired");
            None
        }
        (_, Some(_)) => {
            o.fail("retired_at", "is only for status retired");
            None
        }
        _ => None,
    };
    o.finish().then_some(())?;
    Some(Asset { id: id?, kind, serial, model, warranty_end, rack, site, customer, status: status? })
}

pub(super) fn site_pue(v: &Value, path: String, probs: &mut Problems) -> Option<PueValue> {
    let mut o = Obj::open(v, path, &["site", "from", "to", "pue"], probs)?;
    let site = o.req("site", parsed);
    let interval = interval(&mut o);
    let pue = o.req("pue", pue_value);
    o.finish().then_some(())?;
    Some(PueValue { site: site?, interval: interval?, pue: pue? })
}
