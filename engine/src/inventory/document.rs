//! The inventory document of `contract.md`: a tree (from YAML, JSON, CSV or the catalog) read into
//! typed objects, each with its path, and every problem found on the way.

mod commercial;
mod plant;

use std::collections::HashSet;

use serde_json::Value;

use super::reader::{Problems, item_path, kind_of, push};
use super::{Kind, Object, ObjectKey};

/// An object read from a document, with the path it was read from (`services[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where in the document.
    pub path: String,
    /// The object.
    pub object: Object,
}

/// A document read as far as it could be.
#[derive(Debug, Default)]
pub struct Document {
    /// Objects that read without a problem, in document order.
    pub entries: Vec<Entry>,
    /// Keys of every object whose ID could be read, even if the object had other problems:
    /// references to them are not reported again as unknown.
    pub declared: HashSet<ObjectKey>,
    /// Every problem, in document order.
    pub problems: Problems,
}

/// Reads a whole document.
pub fn read(doc: &Value) -> Document {
    let mut out = Document::default();
    let Some(map) = doc.as_object() else {
        push(
            &mut out.problems,
            "",
            format!("expected a document with sections such as `sites:`, found {}", kind_of(doc)),
        );
        return out;
    };
    for kind in Kind::ALL {
        let key = kind.section();
        let Some(section) = map.get(key).filter(|s| !s.is_null()) else {
            continue;
        };
        let Some(items) = section.as_array() else {
            push(&mut out.problems, key, format!("expected a list, found {}", kind_of(section)));
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let path = item_path(key, i);
            if let Some(id) = declared_id(kind, item) {
                out.declared.insert(ObjectKey { kind, id });
            }
            if let Some(object) = read_object(kind, item, path.clone(), &mut out.problems) {
                out.entries.push(Entry { path, object });
            }
        }
    }
    for key in map.keys().filter(|k| Kind::from_section(k).is_none()) {
        let expected: Vec<_> = Kind::ALL.iter().map(|k| k.section()).collect();
        push(&mut out.problems, key.clone(), format!("unknown section (expected one of: {})", expected.join(", ")));
    }
    out
}

fn read_object(kind: Kind, v: &Value, path: String, probs: &mut Problems) -> Option<Object> {
    Some(match kind {
        Kind::Site => Object::Site(plant::site(v, path, probs)?),
        Kind::Rack => Object::Rack(plant::rack(v, path, probs)?),
        Kind::Pdu => Object::Pdu(plant::pdu(v, path, probs)?),
        Kind::Switch => Object::Switch(plant::switch(v, path, probs)?),
        Kind::Asset => Object::Asset(plant::asset(v, path, probs)?),
        Kind::Customer => Object::Customer(commercial::customer(v, path, probs)?),
        Kind::RatePlan => Object::RatePlan(commercial::rate_plan(v, path, probs)?),
        Kind::Service => Object::Service(commercial::service(v, path, probs)?),
        Kind::Ticket => Object::Ticket(commercial::ticket(v, path, probs)?),
        Kind::GridIntensity => Object::GridIntensity(commercial::intensity(v, path, probs)?),
        Kind::SitePue => Object::SitePue(plant::site_pue(v, path, probs)?),
    })
}

/// The ID of an entry, when it has a readable one (series values have none of their own).
fn declared_id(kind: Kind, v: &Value) -> Option<String> {
    if matches!(kind, Kind::GridIntensity | Kind::SitePue) {
        return None;
    }
    super::reader::text(v.get("id")?).ok()
}

#[cfg(test)]
pub(crate) mod tests;
