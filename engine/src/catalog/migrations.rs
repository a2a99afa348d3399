//! Versioned schema migrations, tracked in SQLite's `user_version`. Each runs in its own
//! transaction with the version bump, so a failed migration leaves the previous version intact.
//! Migrations are append-only: never edit one that has shipped.

use rusqlite::Connection;

use super::CatalogError;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: inventory objects, the assignment index, import history, tokens.
    r#"
    CREATE TABLE objects (
        kind TEXT NOT NULL,
        id   TEXT NOT NULL,
        body TEXT NOT NULL,            -- the object in the inventory document format (JSON)
        PRIMARY KEY (kind, id)
    ) STRICT;
    CREATE TABLE assignments (         -- derived from services, rewritten with them; for queries
        service   TEXT NOT NULL,
        position  INTEGER NOT NULL,
        kind      TEXT NOT NULL,       -- rack | outlet | port | asset
        resource  TEXT NOT NULL,       -- pdu-101a/1, sw-core1/Gi1/0/1, ...
        from_ns   INTEGER NOT NULL,
        to_ns     INTEGER,             -- NULL: open
        PRIMARY KEY (service, position)
    ) STRICT;
    CREATE INDEX assignments_by_resource ON assignments (kind, resource, from_ns);
    CREATE TABLE imports (
        seq      INTEGER PRIMARY KEY,
        at_ns    INTEGER NOT NULL,
        source   TEXT NOT NULL,
        created  INTEGER NOT NULL,
        updated  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE tokens (
        id          TEXT PRIMARY KEY,
        hash        BLOB NOT NULL UNIQUE,
        role        TEXT NOT NULL,
        customer    TEXT,
        label       TEXT,
        created_ns  INTEGER NOT NULL,
        revoked_ns  INTEGER
    ) STRICT;
    "#,
    // 2: invoicing: invoices (issued ones immutable), gapless numbering, credit notes, payments,
    // billing runs and the hash-chained audit log (append-only).
    r#"
    CREATE TABLE invoices (
        id            TEXT PRIMARY KEY,
        customer      TEXT NOT NULL,
        period        TEXT NOT NULL,   -- YYYY-MM
        attempt       INTEGER NOT NULL, -- 1, then 2 … after a void
        status        TEXT NOT NULL CHECK (status IN ('draft', 'finalized', 'sent', 'paid', 'void')),
        number        TEXT UNIQUE,
        body          TEXT NOT NULL,   -- the invoice content (JSON), byte-stable
        evidence      TEXT NOT NULL,   -- JSON array, one entry per line
        finalized_ns  INTEGER,
        sent_ns       INTEGER,
        paid_ns       INTEGER,
        voided_ns     INTEGER,
        UNIQUE (customer, period, attempt)
    ) STRICT;
    CREATE INDEX invoices_by_period ON invoices (period, customer);
    CREATE TRIGGER invoices_issued_never_change
        BEFORE UPDATE OF id, customer, period, attempt, number, body, evidence, finalized_ns ON invoices
        WHEN OLD.status <> 'draft'
        BEGIN SELECT RAISE(ABORT, 'an issued invoice never changes'); END;
    CREATE TRIGGER invoices_issued_never_go
        BEFORE DELETE ON invoices WHEN OLD.status <> 'draft'
        BEGIN SELECT RAISE(ABORT, 'an issued invoice is never deleted'); END;
    CREATE TABLE numbering (
        series TEXT NOT NULL,          -- invoice | credit_note
        year   INTEGER NOT NULL,
        last   INTEGER NOT NULL,
        PRIMARY KEY (series, year)
    ) STRICT;
    CREATE TABLE credit_notes (
        id         TEXT PRIMARY KEY,
        invoice    TEXT NOT NULL REFERENCES invoices (id),
        body       TEXT NOT NULL,
        issued_ns  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice);
    CREATE TABLE payments (
        id          TEXT PRIMARY KEY,
        invoice     TEXT NOT NULL REFERENCES invoices (id),
        amount      TEXT NOT NULL,
        paid_ns     INTEGER NOT NULL,
        reference   TEXT,
        recorded_ns INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX payments_by_invoice ON payments (invoice);
    CREATE TABLE billing_runs (
        id      TEXT PRIMARY KEY,
        period  TEXT NOT NULL,
        at_ns   INTEGER NOT NULL,
        actor   TEXT NOT NULL,
        body    TEXT NOT NULL
    ) STRICT;
    CREATE TABLE audit_log (
        seq        INTEGER PRIMARY KEY,
        at_ns      INTEGER NOT NULL,
        actor      TEXT NOT NULL,
        action     TEXT NOT NULL,
        object     TEXT NOT NULL,
        detail     TEXT NOT NULL,
        prev_hash  BLOB NOT NULL,
        hash       BLOB NOT NULL
    ) STRICT;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER credit_notes_no_update BEFORE UPDATE ON credit_notes
        BEGIN SELECT RAISE(ABORT, 'credit notes never change'); END;
    CREATE TRIGGER credit_notes_no_delete BEFORE DELETE ON credit_notes
        BEGIN SELECT RAISE(ABORT, 'credit notes never change'); END;
    CREATE TRIGGER payments_no_update BEFORE UPDATE ON payments
        BEGIN SELECT RAISE(ABORT, 'payments never change'); END;
    CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments
        BEGIN SELECT RAISE(ABORT, 'payments never change'); END;
    "#,
    // 3: the first responses of POSTs sent with an Idempotency-Key (api `idempotency`).
    r#"
    CREATE TABLE idempotency (
        scope        BLOB NOT NULL,     -- SHA-256 of the caller's token: keys are per caller
        key          TEXT NOT NULL,
        fingerprint  BLOB NOT NULL,     -- SHA-256 of method, path and body
        started_ns   INTEGER NOT NULL,
        status       INTEGER,           -- NULL while the first request runs
        content_type TEXT,
        body         BLOB,
        PRIMARY KEY (scope, key)
    ) STRICT;
    CREATE INDEX idempotency_by_age ON idempotency (started_ns);
    "#,
];

/// Brings the schema up to date.
pub fn migrate(conn: &mut Connection) -> Result<(), CatalogError> {
    let known = MIGRATIONS.len() as i64;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > known {
        return Err(CatalogError::FutureSchema { found: current, known });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        run(conn).map_err(|source| CatalogError::Migration { version, source })?;
        tracing::info!(version, "catalog migrated");
    }
    Ok(())
}
