//! The fleet to poll, from the inventory: every PDU and switch with an `snmp` target.

use std::collections::HashSet;
use std::sync::Arc;

use engine::domain::device::{AuthProtocol, PrivProtocol, SnmpTarget, SnmpVersion};
use engine::inventory::Inventory;
use snmp2::v3;

use crate::profile::DeviceKind;
use crate::scheduler::{DeviceSpec, fingerprint};
use crate::snmp::Credentials;

/// Credentials for snmp2 from the inventory's SNMP target.
pub fn credentials(v: &SnmpVersion) -> Credentials {
    match v {
        SnmpVersion::V1 { community } => Credentials::V1(community.as_bytes().to_vec()),
        SnmpVersion::V2c { community } => Credentials::V2c(community.as_bytes().to_vec()),
        SnmpVersion::V3 { user, auth, auth_key, privacy, priv_key } => {
            let mut sec = v3::Security::new(user.as_bytes(), auth_key.as_deref().unwrap_or("").as_bytes());
            sec = match auth {
                None => sec.with_auth(v3::Auth::NoAuthNoPriv),
                Some(a) => {
                    let sec = sec.with_auth_protocol(match a {
                        AuthProtocol::Md5 => v3::AuthProtocol::Md5,
                        AuthProtocol::Sha1 => v3::AuthProtocol::Sha1,
                        AuthProtocol::Sha224 => v3::AuthProtocol::Sha224,
                        AuthProtocol::Sha256 => v3::AuthProtocol::Sha256,
                        AuthProtocol::Sha384 => v3::AuthProtocol::Sha384,
                        AuthProtocol::Sha512 => v3::AuthProtocol::Sha512,
                    });
                    match privacy {
                        None => sec.with_auth(v3::Auth::AuthNoPriv),
                        Some(p) => sec.with_auth(v3::Auth::AuthPriv {
                            cipher: match p {
                                PrivProtocol::Des => v3::Cipher::Des,
                                PrivProtocol::Aes128 => v3::Cipher::Aes128,
                                PrivProtocol::Aes192 => v3::Cipher::Aes192,
                                PrivProtocol::Aes256 => v3::Cipher::Aes256,
                            },
                            privacy_password: priv_key.as_deref().unwrap_or("").as_bytes().to_vec(),
                        }),
                    }
                }
            };
            Credentials::V3(Box::new(sec))
        }
    }
}

fn spec(id: &str, kind: DeviceKind, snmp: &SnmpTarget, interval_s: u32, declared: HashSet<String>) -> DeviceSpec {
    let mut d: Vec<&String> = declared.iter().collect();
    d.sort();
    let fp = fingerprint(&(id, format!("{snmp:?}"), interval_s, d, matches!(kind, DeviceKind::Pdu)));
    DeviceSpec {
        id: Arc::from(id),
        kind,
        host: snmp.host.clone(),
        port: snmp.port,
        credentials: credentials(&snmp.version),
        interval_s,
        declared,
        fingerprint: fp,
    }
}

/// Every polled device of the inventory; `default_interval_s` where a device sets none.
pub fn specs(inv: &Inventory, default_interval_s: u32) -> Vec<DeviceSpec> {
    let mut out = Vec::new();
    for p in inv.pdus.values() {
        if let Some(snmp) = &p.snmp {
            let declared = p.outlets.iter().map(|o| o.index.to_string()).collect();
            let iv = p.interval.map_or(default_interval_s, |i| i.interval_s());
            out.push(spec(p.id.as_str(), DeviceKind::Pdu, snmp, iv, declared));
        }
    }
    for s in inv.switches.values() {
        if let Some(snmp) = &s.snmp {
            let declared = s.ports.iter().map(|p| p.name.to_string()).collect();
            let iv = s.interval.map_or(default_interval_s, |i| i.interval_s());
            out.push(spec(s.id.as_str(), DeviceKind::Switch, snmp, iv, declared));
        }
    }
    out
}
