//! `colometer catalog migrate --to postgres://…`: every row of an embedded catalog copied into an
//! empty PostgreSQL catalog, as stored — inventory objects, token hashes, import records, audit
//! entries with their hashes (the chain still verifies), invoices with their numbers, states,
//! bodies and evidence byte for byte, numbering counters, credit notes, payments, billing runs,
//! idempotency keys — in one transaction, so a failed copy leaves the target empty.
//!
//! A non-empty target is refused (a second copy would duplicate or collide). After the copy the
//! target's audit chain is verified and both sides' row counts are compared; any difference is an
//! error.

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::backend::TABLES;
use super::ledger::Ledger;
use super::postgres::PgTx;
use super::{Backend, CatalogError, PostgresCatalog, SqliteCatalog};
use crate::inventory::Problem;

/// A column's PostgreSQL type (SQLite's is looser).
#[derive(Clone, Copy)]
enum Col {
    Int8,
    Int4,
    Text,
    Bytes,
    Numeric,
}

use Col::{Bytes, Int4, Int8, Numeric, Text};

/// Every table's columns, in [`TABLES`] order (foreign keys: invoices before notes and payments).
const COLUMNS: &[&[(&str, Col)]] = &[
    &[("kind", Text), ("id", Text), ("body", Text)],
    &[("service", Text), ("position", Int8), ("kind", Text), ("resource", Text), ("from_ns", Int8), ("to_ns", Int8)],
    &[("seq", Int8), ("at_ns", Int8), ("source", Text), ("created", Int8), ("updated", Int8)],
    &[
        ("id", Text),
        ("hash", Bytes),
        ("role", Text),
        ("customer", Text),
        ("label", Text),
        ("created_ns", Int8),
        ("revoked_ns", Int8),
    ],
    &[
        ("id", Text),
        ("customer", Text),
        ("period", Text),
        ("attempt", Int8),
        ("status", Text),
        ("number", Text),
        ("body", Text),
        ("evidence", Text),
        ("finalized_ns", Int8),
        ("sent_ns", Int8),
        ("paid_ns", Int8),
        ("voided_ns", Int8),
    ],
    &[("series", Text), ("year", Int4), ("last", Int8)],
    &[("id", Text), ("invoice", Text), ("body", Text), ("issued_ns", Int8)],
    &[
        ("id", Text),
        ("invoice", Text),
        ("amount", Numeric),
        ("paid_ns", Int8),
        ("reference", Text),
        ("recorded_ns", Int8),
    ],
    &[("id", Text), ("period", Text), ("at_ns", Int8), ("actor", Text), ("body", Text)],
    &[
        ("seq", Int8),
        ("at_ns", Int8),
        ("actor", Text),
        ("action", Text),
        ("object", Text),
        ("detail", Text),
        ("prev_hash", Bytes),
        ("hash", Bytes),
    ],
    &[
        ("scope", Bytes),
        ("key", Text),
        ("fingerprint", Bytes),
        ("started_ns", Int8),
        ("status", Int4),
        ("content_type", Text),
        ("body", Bytes),
    ],
];

/// Rows per table on both sides after a copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// `(table, rows in the source, rows in the target)`.
    pub tables: Vec<(String, i64, i64)>,
    /// Entries in the target's audit log (its chain verified).
    pub audit_entries: usize,
}

fn corrupt(table: &str, column: &str, message: String) -> CatalogError {
    CatalogError::Corrupt(vec![Problem { path: format!("{table}.{column}"), message }])
}

/// One SQLite value as the PostgreSQL column's type.
fn convert(table: &str, (name, col): (&str, Col), v: Value) -> Result<Box<dyn ToSql + Sync + Send>, CatalogError> {
    let bad = |what: &str| corrupt(table, name, format!("expected {what}"));
    Ok(match (col, v) {
        (Int8, Value::Integer(i)) => Box::new(i),
        (Int8, Value::Null) => Box::new(None::<i64>),
        (Int4, Value::Integer(i)) => Box::new(i32::try_from(i).map_err(|_| bad("a 32-bit integer"))?),
        (Int4, Value::Null) => Box::new(None::<i32>),
        (Text, Value::Text(s)) => Box::new(s),
        (Text, Value::Null) => Box::new(None::<String>),
        (Bytes, Value::Blob(b)) => Box::new(b),
        (Bytes, Value::Null) => Box::new(None::<Vec<u8>>),
        (Numeric, Value::Text(s)) => {
            Box::new(s.parse::<rust_decimal::Decimal>().map_err(|e| corrupt(table, name, e.to_string()))?)
        }
        (Int8 | Int4, _) => return Err(bad("an integer")),
        (Text, _) => return Err(bad("text")),
        (Bytes, _) => return Err(bad("bytes")),
        (Numeric, _) => return Err(bad("a decimal as text")),
    })
}

fn copy_table(from: &SqliteCatalog, tx: &PgTx<'_>, table: &str, cols: &[(&str, Col)]) -> Result<(), CatalogError> {
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let insert = format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), placeholders.join(", "));
    let conn = from.connection();
    let mut stmt = conn.prepare(&format!("SELECT {} FROM {table} ORDER BY rowid", names.join(", ")))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            values.push(convert(table, *c, row.get::<_, Value>(i)?)?);
        }
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        tx.execute(&insert, &params)?;
    }
    Ok(())
}

/// Copies `from` into the empty `to`; see the module docs.
pub fn copy_to_postgres(from: &SqliteCatalog, to: &mut PostgresCatalog) -> Result<CopyReport, CatalogError> {
    let before = to.table_counts()?;
    if let Some((table, rows)) = before.into_iter().find(|(_, n)| *n > 0) {
        return Err(CatalogError::NotEmpty { table, rows });
    }
    {
        let tx = PgTx::begin(to, true)?;
        for (table, cols) in TABLES.iter().zip(COLUMNS) {
            copy_table(from, &tx, table, cols)?;
        }
        tx.commit_pg()?;
    }
    let log = to.audit_log()?;
    crate::invoicing::audit::verify(&log)
        .map_err(|e| corrupt("audit_log", "hash", format!("the copied chain does not verify: {e}")))?;
    let source = from.table_counts()?;
    let target = to.table_counts()?;
    let tables: Vec<(String, i64, i64)> =
        source.iter().zip(&target).map(|((t, s), (_, d))| (t.clone(), *s, *d)).collect();
    if let Some((t, s, d)) = tables.iter().find(|(_, s, d)| s != d) {
        return Err(corrupt(t, "*", format!("{s} rows in the source, {d} in the target")));
    }
    Ok(CopyReport { tables, audit_entries: log.len() })
}
