//! Issued records are frozen, versioned documents (#29). The files in `tests/golden/documents/`
//! are what colometer stored for the finalized invoice `acme.2026-10`, its credit note and its
//! lines' evidence (the small colo of `invoicing.rs`), byte for byte as the ledger held them when
//! documents were first versioned (version 1, written without `schema_version`). They are never
//! regenerated: every later colometer must read them to the same values and render them to the
//! same bytes. The api crate's `invoice_document` test renders the same file to HTML.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;
use std::str::FromStr;

use engine::domain::{Currency, Money};
use engine::invoicing::document::{self, DocumentError};
use rust_decimal::Decimal;

fn golden(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/documents").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// An amount in euros.
fn eur(s: &str) -> Money {
    Money::new(d(s), Currency::parse("EUR").unwrap())
}

/// A version-1 document as it is written now: `schema_version` first, then the same members.
fn tagged(untagged: &str) -> String {
    format!("{{\"schema_version\":1,{}", &untagged[1..])
}

#[test]
fn an_invoice_stored_before_versioning_reads_and_renders_byte_for_byte() {
    let stored = golden("invoice.acme.2026-10.v1.json");
    let body = document::read_invoice(&stored).unwrap();
    assert_eq!(body.id.as_str(), "acme.2026-10");
    assert_eq!(body.number.as_deref(), Some("2026-000001"));
    assert_eq!(body.lines.len(), 9);
    assert_eq!(body.lines[2].description, "Energy p1/1 (facility kWh)");
    assert_eq!((body.lines[2].quantity, body.lines[2].amount), (d("786.09"), eur("235.83")));
    assert_eq!((body.subtotal, body.tax, body.total), (eur("1709.65"), eur("359.03"), eur("2068.68")));
    assert_eq!(body.sustainability.kg_co2e, d("456.8445"));
    assert_eq!(body.finalized_at.map(|t| t.to_string()).as_deref(), Some("2026-11-02T09:00:00Z"));
    // The API serves the body as it was stored: same members, same order, same digits.
    assert_eq!(serde_json::to_string(&body).unwrap(), stored);
    // Written again it is version 1 with its tag, and reads back to the same body.
    let written = document::write_invoice(&body).unwrap();
    assert_eq!(written, tagged(&stored));
    assert_eq!(document::read_invoice(&written).unwrap(), body);
}

#[test]
fn a_credit_note_stored_before_versioning_reads_and_renders_byte_for_byte() {
    let stored = golden("credit_note.CN-2026-000001.v1.json");
    let note = document::read_credit_note(&stored).unwrap();
    assert_eq!((note.number.as_str(), note.invoice.as_str()), ("CN-2026-000001", "acme.2026-10"));
    assert_eq!((note.subtotal, note.tax, note.total), (eur("10.00"), eur("2.10"), eur("12.10")));
    assert_eq!((note.lines[0].line, note.lines[0].amount), (3, eur("10.00")));
    assert_eq!(serde_json::to_string(&note).unwrap(), stored);
    let written = document::write_credit_note(&note).unwrap();
    assert_eq!(written, tagged(&stored));
    assert_eq!(document::read_credit_note(&written).unwrap(), note);
}

#[test]
fn stored_evidence_is_served_as_it_was_written() {
    // Evidence is never read back into types: each line's entry is served from the stored array.
    let stored = golden("evidence.acme.2026-10.v1.json");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&stored).unwrap();
    assert_eq!(entries.len(), 9);
    assert_eq!(entries[2]["kind"], "energy");
    assert_eq!(entries[2]["outlet"]["holes"][0]["reason"], "reset");
    assert_eq!((entries[7]["p95"]["samples"].as_u64(), entries[7]["p95"]["rank"].as_u64()), (Some(8928), Some(8482)));
    assert_eq!(entries[7]["p95"]["p95_mbps"], "40");
}

#[test]
fn a_newer_or_broken_document_is_refused_with_its_version() {
    let stored = golden("invoice.acme.2026-10.v1.json");
    let newer = format!("{{\"schema_version\":2,{}", &stored[1..]);
    assert!(matches!(document::read_invoice(&newer), Err(DocumentError::Newer(2))));
    // A tag that is not first is still read (and refused when it is not 1).
    let late = format!("{},\"schema_version\":2}}", &stored[..stored.len() - 1]);
    assert!(matches!(document::read_invoice(&late), Err(DocumentError::Newer(2))));
    let late_one = format!("{},\"schema_version\":1}}", &stored[..stored.len() - 1]);
    assert_eq!(document::read_invoice(&late_one).unwrap(), document::read_invoice(&stored).unwrap());
    let broken = stored.replace("\"subtotal\"", "\"sub_total\"");
    assert!(matches!(document::read_invoice(&broken), Err(DocumentError::Json { version: 1, .. })));
    let bad_id = stored.replacen("\"acme.2026-10\"", "\"acme 2026/10\"", 1);
    assert!(matches!(document::read_invoice(&bad_id), Err(DocumentError::Value { version: 1, .. })));
}
