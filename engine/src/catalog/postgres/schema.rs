//! The PostgreSQL schema: versioned migrations in `colometer_schema`, run once under a
//! session advisory lock (several `serve` processes starting together migrate once; the others
//! wait, then find the schema current). Append-only: never edit a migration that has shipped.
//!
//! The same tables as SQLite's (`../migrations.rs`), with the ledger's rules enforced by the
//! database as well as by the code: an issued invoice is never updated (but for its later
//! states) nor deleted, credit notes, payments and the audit log are append-only (no `UPDATE`,
//! `DELETE` or `TRUNCATE`), an issued invoice never returns to `draft`. Keys and periods are
//! `COLLATE "C"` so lists and cursors order byte-wise, as on SQLite.

use tokio_postgres::Client;

use super::PgError;
use crate::catalog::CatalogError;

/// Key of the advisory lock migrations run under.
const MIGRATE_LOCK: i64 = 0x636f_6c6f_6d69_6701; // "colomig" + 1

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite catalog holds at its version 3.
    r#"
    CREATE TABLE objects (
        kind TEXT COLLATE "C" NOT NULL,
        id   TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE assignments (
        service  TEXT COLLATE "C" NOT NULL,
        position BIGINT NOT NULL,
        kind     TEXT NOT NULL,
        resource TEXT COLLATE "C" NOT NULL,
        from_ns  BIGINT NOT NULL,
        to_ns    BIGINT,
        PRIMARY KEY (service, position)
    );
    CREATE INDEX assignments_by_resource ON assignments (kind, resource, from_ns);
    CREATE TABLE imports (
        seq     BIGINT PRIMARY KEY,
        at_ns   BIGINT NOT NULL,
        source  TEXT NOT NULL,
        created BIGINT NOT NULL,
        updated BIGINT NOT NULL
    );
    CREATE TABLE tokens (
        id         TEXT COLLATE "C" PRIMARY KEY,
        hash       BYTEA NOT NULL UNIQUE,
        role       TEXT NOT NULL,
        customer   TEXT,
        label      TEXT,
        created_ns BIGINT NOT NULL,
        revoked_ns BIGINT
    );
    CREATE TABLE invoices (
        id           TEXT COLLATE "C" PRIMARY KEY,
        customer     TEXT COLLATE "C" NOT NULL,
        period       TEXT COLLATE "C" NOT NULL,
        attempt      BIGINT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('draft', 'finalized', 'sent', 'paid', 'void')),
        number       TEXT UNIQUE,
        body         TEXT NOT NULL,
        evidence     TEXT NOT NULL,
        finalized_ns BIGINT,
        sent_ns      BIGINT,
        paid_ns      BIGINT,
        voided_ns    BIGINT,
        UNIQUE (customer, period, attempt)
    );
    CREATE INDEX invoices_by_period ON invoices (period, customer);
    CREATE TABLE numbering (
        series TEXT NOT NULL,
        year   INTEGER NOT NULL,
        last   BIGINT NOT NULL,
        PRIMARY KEY (series, year)
    );
    CREATE TABLE credit_notes (
        id        TEXT COLLATE "C" PRIMARY KEY,
        invoice   TEXT COLLATE "C" NOT NULL REFERENCES invoices (id),
        body      TEXT NOT NULL,
        issued_ns BIGINT NOT NULL
    );
    CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice);
    CREATE TABLE payments (
        id          TEXT COLLATE "C" PRIMARY KEY,
        invoice     TEXT COLLATE "C" NOT NULL REFERENCES invoices (id),
        amount      NUMERIC NOT NULL,
        paid_ns     BIGINT NOT NULL,
        reference   TEXT,
        recorded_ns BIGINT NOT NULL
    );
    CREATE INDEX payments_by_invoice ON payments (invoice);
    CREATE TABLE billing_runs (
        id     TEXT COLLATE "C" PRIMARY KEY,
        period TEXT COLLATE "C" NOT NULL,
        at_ns  BIGINT NOT NULL,
        actor  TEXT NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        seq       BIGINT PRIMARY KEY,
        at_ns     BIGINT NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        object    TEXT NOT NULL,
        detail    TEXT NOT NULL,
        prev_hash BYTEA NOT NULL,
        hash      BYTEA NOT NULL
    );
    CREATE TABLE idempotency (
        scope        BYTEA NOT NULL,
        key          TEXT NOT NULL,
        fingerprint  BYTEA NOT NULL,
        started_ns   BIGINT NOT NULL,
        status       INTEGER,
        content_type TEXT,
        body         BYTEA,
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_by_age ON idempotency (started_ns);

    CREATE FUNCTION colometer_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
    END $$;
    CREATE FUNCTION colometer_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status <> 'draft' THEN
                RAISE EXCEPTION 'an issued invoice is never deleted' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN OLD;
        END IF;
        IF OLD.status <> 'draft' AND (
            NEW.status = 'draft'
            OR (NEW.id, NEW.customer, NEW.period, NEW.attempt, NEW.number, NEW.body, NEW.evidence, NEW.finalized_ns)
               IS DISTINCT FROM
               (OLD.id, OLD.customer, OLD.period, OLD.attempt, OLD.number, OLD.body, OLD.evidence, OLD.finalized_ns)
        ) THEN
            RAISE EXCEPTION 'an issued invoice never changes' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER invoices_issued_never_change BEFORE UPDATE OR DELETE ON invoices
        FOR EACH ROW EXECUTE FUNCTION colometer_invoice_guard();
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION colometer_refuse('the audit log is append-only');
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION colometer_refuse('the audit log is append-only');
    CREATE TRIGGER credit_notes_never_change BEFORE UPDATE OR DELETE ON credit_notes
        FOR EACH ROW EXECUTE FUNCTION colometer_refuse('credit notes never change');
    CREATE TRIGGER credit_notes_no_truncate BEFORE TRUNCATE ON credit_notes
        FOR EACH STATEMENT EXECUTE FUNCTION colometer_refuse('credit notes never change');
    CREATE TRIGGER payments_never_change BEFORE UPDATE OR DELETE ON payments
        FOR EACH ROW EXECUTE FUNCTION colometer_refuse('payments never change');
    CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON payments
        FOR EACH STATEMENT EXECUTE FUNCTION colometer_refuse('payments never change');
    CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices
        FOR EACH STATEMENT EXECUTE FUNCTION colometer_refuse('issued invoices are never deleted');
    "#,
    // 2: cluster mode (#23): leases on devices and shards, and the shards' committed progress
    // (`lease.rs`). A segment row is never rewritten (object keys are immutable).
    r#"
    CREATE TABLE cluster_leases (
        kind       TEXT COLLATE "C" NOT NULL CHECK (kind IN ('device', 'shard')),
        key        TEXT COLLATE "C" NOT NULL,
        holder     TEXT,
        epoch      BIGINT NOT NULL CHECK (epoch >= 0),
        expires_ns BIGINT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE cluster_shards (
        shard       TEXT COLLATE "C" PRIMARY KEY,
        covered_seq BIGINT NOT NULL CHECK (covered_seq >= 0),
        epoch       BIGINT NOT NULL
    );
    CREATE TABLE cluster_segments (
        key       TEXT COLLATE "C" PRIMARY KEY,
        shard     TEXT COLLATE "C" NOT NULL,
        min_ts_ns BIGINT NOT NULL,
        max_ts_ns BIGINT NOT NULL,
        rows      BIGINT NOT NULL CHECK (rows >= 0),
        epoch     BIGINT NOT NULL
    );
    CREATE INDEX cluster_segments_by_shard ON cluster_segments (shard, min_ts_ns);
    CREATE TRIGGER cluster_segments_never_change BEFORE UPDATE ON cluster_segments
        FOR EACH ROW EXECUTE FUNCTION colometer_refuse('a committed segment never changes');
    "#,
    // 3: cluster membership (#23): a node holds a `node` lease per role (`ROLE/NODE`) while it
    // runs, so nodes of a role can share the devices or shards fairly and `GET /api/v1/cluster`
    // lists who is up; a shard's last commit time (the database's clock).
    r#"
    ALTER TABLE cluster_leases DROP CONSTRAINT cluster_leases_kind_check;
    ALTER TABLE cluster_leases ADD CONSTRAINT cluster_leases_kind_check CHECK (kind IN ('device', 'shard', 'node'));
    ALTER TABLE cluster_shards ADD COLUMN committed_ns BIGINT;
    "#,
];

/// Brings the schema up to date, once among every process starting at the same time; refuses a
/// schema newer than this binary.
pub(crate) async fn migrate(client: &mut Client) -> Result<(), CatalogError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK]).await.map_err(PgError::from)?;
    let result = migrate_locked(client).await;
    // The lock is the session's: released here, or by the server if this connection dies.
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]).await;
    result?;
    unlocked.map_err(PgError::from)?;
    Ok(())
}

async fn migrate_locked(client: &mut Client) -> Result<(), CatalogError> {
    let pg = |e: tokio_postgres::Error| CatalogError::Postgres(PgError::from(e));
    client.batch_execute("CREATE TABLE IF NOT EXISTS colometer_schema (version BIGINT NOT NULL)").await.map_err(pg)?;
    let current: i64 =
        client.query_one("SELECT COALESCE(MAX(version), 0) FROM colometer_schema", &[]).await.map_err(pg)?.get(0);
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(CatalogError::FutureSchema { found: current, known });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(current).unwrap_or(0)) {
        let version = i as i64 + 1;
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute("DELETE FROM colometer_schema", &[]).await.map_err(pg)?;
        tx.execute("INSERT INTO colometer_schema (version) VALUES ($1)", &[&version]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        tracing::info!(version, "PostgreSQL catalog migrated");
    }
    Ok(())
}
