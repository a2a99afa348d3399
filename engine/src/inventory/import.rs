//! Planning an import: read, merge over the catalog, validate the whole, and diff. Nothing is
//! written here; the catalog applies a plan in one transaction.

use std::collections::HashMap;

use super::document::Document;
use super::reader::{Problem, Problems};
use super::validate::validate;
use super::{Inventory, Object, ObjectKey};

/// Why an import cannot go ahead.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The document has problems; every one is listed, nothing was written.
    #[error("the inventory has {} problem(s); nothing was written", .0.len())]
    Invalid(Problems),
}

/// What an import would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new object.
    Create(Object),
    /// An object whose stored form differs.
    Update(Object),
}

impl Change {
    /// The object written.
    pub fn object(&self) -> &Object {
        match self {
            Change::Create(o) | Change::Update(o) => o,
        }
    }
}

/// Counts of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    /// Objects created.
    pub created: usize,
    /// Objects replaced.
    pub updated: usize,
    /// Objects already stored exactly so.
    pub unchanged: usize,
}

/// A validated import: the changes to write and the inventory after them.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// Changes, in document order.
    pub changes: Vec<Change>,
    /// Counts.
    pub summary: ImportSummary,
    /// The inventory once the plan is applied.
    pub result: Inventory,
}

/// Plans importing `doc` over `current`.
pub fn plan(current: &Inventory, doc: Document) -> Result<ImportPlan, ImportError> {
    let mut problems = doc.problems;
    let mut paths: HashMap<ObjectKey, String> = HashMap::new();
    let mut merged = current.clone();
    let mut changes = Vec::new();
    let mut summary = ImportSummary::default();
    for entry in doc.entries {
        let key = entry.object.key();
        if let Some(first) = paths.get(&key) {
            problems.push(Problem {
                path: entry.path,
                message: format!("duplicate {} '{}' (first at {first})", key.kind.section(), key.id),
            });
            continue;
        }
        match current.get(&key) {
            None => {
                summary.created += 1;
                changes.push(Change::Create(entry.object.clone()));
            }
            Some(old) if old != entry.object => {
                summary.updated += 1;
                changes.push(Change::Update(entry.object.clone()));
            }
            Some(_) => summary.unchanged += 1,
        }
        paths.insert(key, entry.path);
        merged.upsert(entry.object);
    }
    problems.extend(validate(&merged, &paths, &doc.declared));
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    Ok(ImportPlan { changes, summary, result: merged })
}
