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
