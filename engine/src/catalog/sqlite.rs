//! The embedded catalog: one SQLite file, `catalog.db`, in the data directory.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

pub mod idempotency;
mod ledger;

pub use ledger::SqliteTx;

use super::migrations::migrate;
use super::writes::{self, AssignmentRow, CatalogTx, ImportSummary};
use super::{Catalog, CatalogError, ImportRecord};
use crate::access::{TokenHash, TokenRecord};
use crate::id::TokenId;
use crate::inventory::{ImportPlan, Inventory};
use crate::time::Timestamp;

/// The catalog's file name inside the data directory.
pub const CATALOG_FILE: &str = "catalog.db";

/// The SQLite catalog.
pub struct SqliteCatalog {
    conn: Connection,
    path: PathBuf,
}

impl SqliteCatalog {
    /// Opens (creating if needed) the catalog in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Self, CatalogError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| CatalogError::DataDir { path: data_dir.to_owned(), source })?;
        let path = data_dir.join(CATALOG_FILE);
        let conn = Connection::open(&path).map_err(|source| CatalogError::Open { path: path.clone(), source })?;
        Self::setup(conn, path)
    }

    /// An in-memory catalog (tests, dry runs).
    pub fn in_memory() -> Result<Self, CatalogError> {
        let conn =
            Connection::open_in_memory().map_err(|source| CatalogError::Open { path: ":memory:".into(), source })?;
        Self::setup(conn, PathBuf::from(":memory:"))
    }

    fn setup(mut conn: Connection, path: PathBuf) -> Result<Self, CatalogError> {
        let open_err = |source| CatalogError::Open { path: path.clone(), source };
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        // WAL lets readers (the API) proceed while an import writes; FULL makes a commit durable.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        migrate(&mut conn)?;
        Ok(Self { conn, path })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection (the copy to PostgreSQL reads every table through it).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn ns_opt(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::as_nanos)
}

fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

type TokenRow = (String, Vec<u8>, String, Option<String>, Option<String>, i64, Option<i64>);

fn token_from_row(row: TokenRow) -> Result<TokenRecord, CatalogError> {
    let (id, hash, role, customer, label, created, revoked) = row;
    super::token_from_parts(super::TokenParts { id, hash, role, customer, label, created, revoked })
}

const TOKEN_COLUMNS: &str = "id, hash, role, customer, label, created_ns, revoked_ns";

impl Catalog for SqliteCatalog {
    fn inventory(&self) -> Result<Inventory, CatalogError> {
        let mut stmt = self.conn.prepare("SELECT kind, body FROM objects ORDER BY kind, id")?;
        let rows: Vec<(String, String)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        super::inventory_from_rows(rows)
    }

    fn generation(&self) -> Result<i64, CatalogError> {
        // Asked by every request that meters: a cached statement.
        Ok(self.conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM imports")?.query_row([], |r| r.get(0))?)
    }

    fn apply_as(
        &mut self,
        plan: &ImportPlan,
        generation: i64,
        source: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), CatalogError> {
        writes::apply(self, plan, generation, source, actor, at)
    }

    fn imports(&self) -> Result<Vec<ImportRecord>, CatalogError> {
        let mut stmt = self.conn.prepare("SELECT at_ns, source, created, updated FROM imports ORDER BY seq DESC")?;
        let rows = stmt.query_map([], |r| {
            Ok(ImportRecord {
                at: Timestamp::from_nanos(r.get(0)?),
                source: r.get(1)?,
                created: r.get::<_, i64>(2)? as usize,
                updated: r.get::<_, i64>(3)? as usize,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_token_as(&mut self, t: &TokenRecord, actor: &str) -> Result<(), CatalogError> {
        writes::insert_token(self, t, actor)
    }

    fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, CatalogError> {
        // Asked by every request: a cached statement.
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1 AND revoked_ns IS NULL"))?
            .query_row(params![&hash.0[..]], row_to_token)
            .optional()?;
        row.map(token_from_row).transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, CatalogError> {
        let mut stmt = self.conn.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_ns, id"))?;
        let rows: Vec<TokenRow> = stmt.query_map([], row_to_token)?.collect::<Result<_, _>>()?;
        rows.into_iter().map(token_from_row).collect()
    }

    fn revoke_token_as(&mut self, id: &TokenId, actor: &str, at: Timestamp) -> Result<bool, CatalogError> {
        writes::revoke_token(self, id, actor, at)
    }
}

impl CatalogTx for SqliteTx<'_> {
    fn import_seq(&mut self) -> Result<i64, CatalogError> {
        Ok(self.conn().query_row("SELECT COALESCE(MAX(seq), 0) FROM imports", [], |r| r.get(0))?)
    }

    fn put_object(&mut self, kind: &str, id: &str, body: &str) -> Result<(), CatalogError> {
        self.conn()
            .prepare_cached("INSERT OR REPLACE INTO objects (kind, id, body) VALUES (?1, ?2, ?3)")?
            .execute(params![kind, id, body])?;
        Ok(())
    }

    fn replace_assignments(&mut self, service: &str, rows: &[AssignmentRow]) -> Result<(), CatalogError> {
        let conn = self.conn();
        conn.prepare_cached("DELETE FROM assignments WHERE service = ?1")?.execute(params![service])?;
        let mut assign = conn.prepare_cached(
            "INSERT INTO assignments (service, position, kind, resource, from_ns, to_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for a in rows {
            assign.execute(params![service, a.position, a.kind, a.resource, a.from.as_nanos(), ns_opt(a.to)])?;
        }
        Ok(())
    }

    fn insert_import(&mut self, seq: i64, at: Timestamp, source: &str, s: &ImportSummary) -> Result<(), CatalogError> {
        self.conn().execute(
            "INSERT INTO imports (seq, at_ns, source, created, updated) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, at.as_nanos(), source, s.created, s.updated],
        )?;
        Ok(())
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<bool, CatalogError> {
        let r = self.conn().execute(
            &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                t.id.as_str(),
                &t.hash.0[..],
                t.role.name(),
                t.role.customer().map(|c| c.as_str()),
                t.label,
                t.created_at.as_nanos(),
                ns_opt(t.revoked_at)
            ],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Ok(false)
            }
            other => Ok(other.map(|_| true)?),
        }
    }

    fn revoke_token(&mut self, id: &TokenId, at: Timestamp) -> Result<bool, CatalogError> {
        let n = self.conn().execute(
            "UPDATE tokens SET revoked_ns = ?2 WHERE id = ?1 AND revoked_ns IS NULL",
            params![id.as_str(), at.as_nanos()],
        )?;
        Ok(n == 1)
    }
}

impl super::Backend for SqliteCatalog {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn reads_in_place(&self) -> bool {
        true
    }

    fn claim_billing_run(&self, period: crate::period::BillingPeriod) -> Result<Option<super::RunClaim>, CatalogError> {
        Ok(super::backend::claim_local(&self.describe(), &period.to_string()))
    }

    fn table_counts(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        super::backend::TABLES
            .iter()
            .map(|t| {
                Ok(((*t).to_owned(), self.conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))?))
            })
            .collect()
    }
}
