//! The catalog's changes — an import, a token created or revoked — written once for every
//! backend, like the ledger's rules ([`super::ledger`]): a backend supplies the statements
//! ([`CatalogTx`]); here are the decisions (the generation check, which rows an object implies,
//! a duplicate token, the audit entry inside the same transaction).

use super::CatalogError;
use super::ledger::{LedgerTx, Transactions, append_audit};
use crate::access::TokenRecord;
use crate::id::TokenId;
use crate::inventory::import::Change;
use crate::inventory::{ImportPlan, Object};
use crate::time::Timestamp;

/// One `[from, to)` assignment of a service's resource, as stored for queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    /// Position in the service's `resources`.
    pub position: i64,
    /// `rack`, `outlet`, `port`, `asset` …
    pub kind: &'static str,
    /// `pdu-101a/1`, `sw-core1/Gi1/0/1` …
    pub resource: String,
    /// Start.
    pub from: Timestamp,
    /// End; `None`: open.
    pub to: Option<Timestamp>,
}

/// What an import record and its audit entry say about a plan.
pub struct ImportSummary {
    /// Objects created.
    pub created: i64,
    /// Objects replaced.
    pub updated: i64,
    /// The audit entry's detail (JSON text).
    pub detail: String,
}

impl ImportSummary {
    /// The counts and detail of `plan`.
    pub fn of(plan: &ImportPlan) -> Self {
        let created = plan.changes.iter().filter(|c| matches!(c, Change::Create(_))).count() as i64;
        let updated = plan.changes.len() as i64 - created;
        let changed: Vec<String> = plan
            .changes
            .iter()
            .map(|c| {
                let k = c.object().key();
                format!("{}/{}", k.kind.section(), k.id)
            })
            .collect();
        let detail = serde_json::json!({"created": created, "updated": updated, "objects": changed}).to_string();
        Self { created, updated, detail }
    }
}

/// The catalog's statements inside one (write) transaction.
pub trait CatalogTx: LedgerTx {
    /// The last import's sequence number (the inventory's generation; 0: none yet).
    fn import_seq(&mut self) -> Result<i64, CatalogError>;
    /// Stores an object (inserted or replaced), in the document format.
    fn put_object(&mut self, kind: &str, id: &str, body: &str) -> Result<(), CatalogError>;
    /// Replaces a service's assignment rows.
    fn replace_assignments(&mut self, service: &str, rows: &[AssignmentRow]) -> Result<(), CatalogError>;
    /// Records an import as number `seq`.
    fn insert_import(
        &mut self,
        seq: i64,
        at: Timestamp,
        source: &str,
        summary: &ImportSummary,
    ) -> Result<(), CatalogError>;
    /// Stores a token; `false` when its ID or hash exists already.
    fn insert_token(&mut self, t: &TokenRecord) -> Result<bool, CatalogError>;
    /// Revokes a live token; `false` when there is none with this ID.
    fn revoke_token(&mut self, id: &TokenId, at: Timestamp) -> Result<bool, CatalogError>;
}

/// Writes a validated plan atomically if the inventory is still at `generation`; a plan without
/// changes writes nothing.
pub fn apply<B: Transactions>(
    backend: &mut B,
    plan: &ImportPlan,
    generation: i64,
    source: &str,
    actor: &str,
    at: Timestamp,
) -> Result<(), CatalogError> {
    if plan.changes.is_empty() {
        return Ok(());
    }
    let mut tx = backend.write()?;
    let found = tx.import_seq()?;
    if found != generation {
        return Err(CatalogError::Concurrent { planned: generation, found });
    }
    for change in &plan.changes {
        let object = change.object();
        let key = object.key();
        tx.put_object(key.kind.section(), &key.id, &object.to_json().to_string())?;
        if let Object::Service(s) = object {
            let rows: Vec<AssignmentRow> = s
                .resources
                .iter()
                .enumerate()
                .map(|(i, a)| AssignmentRow {
                    position: i as i64,
                    kind: a.resource.kind(),
                    resource: a.resource.key(),
                    from: a.interval.from,
                    to: a.interval.to,
                })
                .collect();
            tx.replace_assignments(s.id.as_str(), &rows)?;
        }
    }
    let summary = ImportSummary::of(plan);
    tx.insert_import(found + 1, at, source, &summary)?;
    append_audit(&mut tx, at, actor, "inventory.import", source, &summary.detail)?;
    Ok(tx.commit()?)
}

/// Stores a new token, audited as done by `actor`.
pub fn insert_token<B: Transactions>(backend: &mut B, t: &TokenRecord, actor: &str) -> Result<(), CatalogError> {
    let mut tx = backend.write()?;
    if !tx.insert_token(t)? {
        return Err(CatalogError::DuplicateToken(t.id.clone()));
    }
    let detail = serde_json::json!({"role": t.role.name(), "customer": t.role.customer(), "label": t.label});
    append_audit(&mut tx, t.created_at, actor, "token.create", t.id.as_str(), &detail.to_string())?;
    Ok(tx.commit()?)
}

/// Revokes a live token, audited as done by `actor`; `false` if there is no such live token.
pub fn revoke_token<B: Transactions>(
    backend: &mut B,
    id: &TokenId,
    actor: &str,
    at: Timestamp,
) -> Result<bool, CatalogError> {
    let mut tx = backend.write()?;
    let revoked = tx.revoke_token(id, at)?;
    if revoked {
        append_audit(&mut tx, at, actor, "token.revoke", id.as_str(), "{}")?;
    }
    tx.commit()?;
    Ok(revoked)
}
