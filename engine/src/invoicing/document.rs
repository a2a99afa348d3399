//! Issued records as frozen, versioned documents: how an invoice body and a credit note are
//! stored in the ledger, separate from the live types ([`Body`], [`CreditNote`]) the code works
//! with. Changing a live type can no longer silently change how an old invoice reads: every
//! version ever written has its own frozen types here ([`v1`]) and a reader, pinned by golden
//! files of stored documents (`engine/tests/golden/documents/`) that must keep reading and
//! rendering byte for byte (`engine/tests/documents.rs`).
//!
//! Reading where #29 is silent, and how:
//! - The version is a `schema_version` member, first in the document. Documents written before
//!   versioning (up to 2026-12) have none and are version 1: version 1's layout is exactly what
//!   they hold. Every document is now written with `"schema_version":1`.
//! - A new version adds a module `vN` with its frozen types, a conversion to the live type, and
//!   a `N =>` arm in each reader below; the writer moves to it. Old arms are never removed.
//! - Identifiers are kept as text in the frozen types and checked when converted, so a stricter
//!   ID rule later reports an unreadable document instead of failing inside serde.
//! - Line evidence is stored as the JSON array rating wrote and is never read back into types:
//!   it is served as stored (each entry names its `kind`), so no later change to the evidence
//!   types can alter an issued invoice's evidence. Its golden file pins that.

pub mod v1;

use serde::Deserialize;

use super::credit_note::CreditNote;
use super::invoice::Body;

/// The version every document is written in now.
pub const CURRENT_VERSION: u32 = 1;

/// Why a stored document does not read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Not JSON of the version it claims.
    #[error("document of version {version}: {source}")]
    Json {
        /// The version read.
        version: u32,
        /// Why.
        source: serde_json::Error,
    },
    /// A version this code has no reader for (written by a newer colometer).
    #[error("document version {0} is newer than this colometer reads (at most {CURRENT_VERSION})")]
    Newer(u32),
    /// A value inside does not hold (an identifier).
    #[error("document of version {version}: {message}")]
    Value {
        /// The version read.
        version: u32,
        /// What.
        message: String,
    },
}

/// The version a stored document declares. The writer puts the tag first, so it is read from
/// the prefix, not by parsing the document twice (invoice lists read a document per row); a
/// document without the prefix is version 1, whose reader refuses a tag found elsewhere in it
/// unless it says 1.
fn version_of(text: &str) -> Result<u32, DocumentError> {
    let Some(rest) = text.strip_prefix("{\"schema_version\":") else { return Ok(1) };
    let digits = &rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())];
    digits
        .parse()
        .map_err(|_| DocumentError::Value { version: 1, message: "schema_version is not a version number".into() })
}

fn json<'a, T: Deserialize<'a>>(version: u32, text: &'a str) -> Result<T, DocumentError> {
    serde_json::from_str(text).map_err(|source| DocumentError::Json { version, source })
}

/// Reads a stored invoice body of any version.
pub fn read_invoice(text: &str) -> Result<Body, DocumentError> {
    match version_of(text)? {
        1 => json::<v1::Invoice>(1, text)?.into_body(),
        v => Err(DocumentError::Newer(v)),
    }
}

/// Writes an invoice body in the current version.
pub fn write_invoice(body: &Body) -> Result<String, serde_json::Error> {
    serde_json::to_string(&v1::Invoice::from_body(body))
}

/// Reads a stored credit note of any version.
pub fn read_credit_note(text: &str) -> Result<CreditNote, DocumentError> {
    match version_of(text)? {
        1 => json::<v1::CreditNote>(1, text)?.into_note(),
        v => Err(DocumentError::Newer(v)),
    }
}

/// Writes a credit note in the current version.
pub fn write_credit_note(note: &CreditNote) -> Result<String, serde_json::Error> {
    serde_json::to_string(&v1::CreditNote::from_note(note))
}
