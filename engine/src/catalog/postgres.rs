//! The PostgreSQL catalog: `[catalog] url = "postgres://USER[:PASS]@HOST[:PORT][,HOST2[:PORT2]]/DB?target_session_attrs=read-write"`.
//!
//! The client is `tokio-postgres` behind a `deadpool-postgres` pool, driven by a small runtime of
//! its own (one worker thread), so the catalog keeps the same blocking interface as SQLite's:
//! callers run it on a blocking thread (the API's blocking pool, the CLI's main thread), never on
//! an async worker ([`super::Backend::reads_in_place`] is `false`).
//!
//! Several hosts with `target_session_attrs=read-write` make a failover transparent: a lost
//! connection fails the operation it carried ([`PgError::is_unavailable`]: the API answers `503`
//! with `Retry-After`), the pool drops it, and the next operation connects to whichever host is
//! the primary now. Connecting waits at most [`CONNECT_TIMEOUT`] per host and a pool check-out at
//! most [`CHECKOUT_TIMEOUT`], so nothing hangs past the API's request timeout.
//!
//! TLS (`sslmode=require`, `verify-ca` or `verify-full`) goes through rustls and always verifies
//! the server's certificate chain and name, against the webpki roots plus `sslrootcert=FILE`
//! (PEM) when given: stricter than libpq's `require`, which encrypts without verifying.
//! `sslmode=disable` and `prefer` (the default) connect without TLS: libpq's `prefer` would
//! encrypt without verifying, which colometer never does, and trying verified TLS first would
//! fail on every server with a private certificate. Reading taken for #22, said in the README.

mod connect;
mod error;
mod idempotency;
pub mod lease;
mod ledger;
pub mod schema;

use std::time::Duration;

use deadpool_postgres::{Object, Pool};

pub use error::PgError;
pub use ledger::PgTx;

use super::writes::{self, AssignmentRow, CatalogTx, ImportSummary};
use super::{Catalog, CatalogError, ImportRecord, TokenParts};
use crate::access::{TokenHash, TokenRecord};
use crate::id::TokenId;
use crate::inventory::{ImportPlan, Inventory};
use crate::time::Timestamp;

/// Longest wait for one host to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// Longest wait for a pooled connection (a new one included).
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(8);
/// Connections kept per process.
pub const POOL_SIZE: usize = 8;

/// The client's own runtime: drives the connections whoever calls.
pub(crate) struct PgRuntime {
    handle: tokio::runtime::Handle,
    rt: Option<tokio::runtime::Runtime>,
}

impl PgRuntime {
    fn new() -> Result<Self, PgError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("colometer-pg")
            .enable_all()
            .build()
            .map_err(PgError::Runtime)?;
        Ok(Self { handle: rt.handle().clone(), rt: Some(rt) })
    }

    /// Runs `f` to completion on the calling (blocking) thread.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }
}

impl Drop for PgRuntime {
    fn drop(&mut self) {
        // Dropped from async code too (the server's state): never block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The PostgreSQL catalog.
pub struct PostgresCatalog {
    // Field order: the pool's connections go before the runtime that drives them.
    pool: Pool,
    target: String,
    rt: PgRuntime,
}

impl PostgresCatalog {
    /// Connects (at most [`CONNECT_TIMEOUT`] per host), migrates and checks the schema. Errors
    /// name the hosts tried: unreachable, refused login, or a schema newer than this binary.
    pub fn connect(url: &str) -> Result<Self, CatalogError> {
        let settings = connect::Settings::parse(url)?;
        let rt = PgRuntime::new()?;
        let pool = rt.block_on(async { connect::pool(&settings) })?;
        let catalog = Self { pool, target: settings.target.clone(), rt };
        let mut client = catalog.client()?;
        catalog.rt.block_on(schema::migrate(&mut client))?;
        Ok(catalog)
    }

    /// Where it is: hosts, ports and database (no credentials).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A pooled connection.
    pub(crate) fn client(&self) -> Result<Object, PgError> {
        self.rt.block_on(async {
            match tokio::time::timeout(CHECKOUT_TIMEOUT, self.pool.get()).await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) => Err(connect::checkout_error(&self.target, e)),
                Err(_) => Err(PgError::Unreachable {
                    target: self.target.clone(),
                    reason: format!("no connection within {}s", CHECKOUT_TIMEOUT.as_secs()),
                }),
            }
        })
    }
}

fn pg<T>(r: Result<T, tokio_postgres::Error>) -> Result<T, CatalogError> {
    r.map_err(|e| CatalogError::Postgres(e.into()))
}

const TOKEN_COLUMNS: &str = "id, hash, role, customer, label, created_ns, revoked_ns";

fn token(r: &tokio_postgres::Row) -> Result<TokenRecord, CatalogError> {
    super::token_from_parts(TokenParts {
        id: pg(r.try_get(0))?,
        hash: pg(r.try_get(1))?,
        role: pg(r.try_get(2))?,
        customer: pg(r.try_get(3))?,
        label: pg(r.try_get(4))?,
        created: pg(r.try_get(5))?,
        revoked: pg(r.try_get(6))?,
    })
}

impl Catalog for PostgresCatalog {
    fn inventory(&self) -> Result<Inventory, CatalogError> {
        let tx = PgTx::begin(self, false)?;
        let rows = tx.query("SELECT kind, body FROM objects ORDER BY kind, id", &[])?;
        let rows: Vec<(String, String)> =
            rows.iter().map(|r| Ok((pg(r.try_get(0))?, pg(r.try_get(1))?))).collect::<Result<_, CatalogError>>()?;
        super::inventory_from_rows(rows)
    }

    fn generation(&self) -> Result<i64, CatalogError> {
        let c = self.client()?;
        let r = self.rt.block_on(async {
            let st = c.prepare_cached("SELECT COALESCE(MAX(seq), 0)::BIGINT FROM imports").await?;
            c.query_one(&st, &[]).await
        });
        pg(pg(r)?.try_get(0))
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
        let tx = PgTx::begin(self, false)?;
        let rows = tx.query("SELECT at_ns, source, created, updated FROM imports ORDER BY seq DESC", &[])?;
        rows.iter()
            .map(|r| {
                Ok(ImportRecord {
                    at: Timestamp::from_nanos(pg(r.try_get(0))?),
                    source: pg(r.try_get(1))?,
                    created: usize::try_from(pg::<i64>(r.try_get(2))?).unwrap_or(0),
                    updated: usize::try_from(pg::<i64>(r.try_get(3))?).unwrap_or(0),
                })
            })
            .collect()
    }

    fn insert_token_as(&mut self, t: &TokenRecord, actor: &str) -> Result<(), CatalogError> {
        writes::insert_token(self, t, actor)
    }

    fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, CatalogError> {
        let c = self.client()?;
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_ns IS NULL");
        let hash: &[u8] = &hash.0;
        let row = pg(self.rt.block_on(async {
            let st = c.prepare_cached(&sql).await?;
            c.query_opt(&st, &[&hash]).await
        }))?;
        row.as_ref().map(token).transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, CatalogError> {
        let tx = PgTx::begin(self, false)?;
        tx.query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_ns, id"), &[])?
            .iter()
            .map(token)
            .collect()
    }

    fn revoke_token_as(&mut self, id: &TokenId, actor: &str, at: Timestamp) -> Result<bool, CatalogError> {
        writes::revoke_token(self, id, actor, at)
    }
}

impl CatalogTx for PgTx<'_> {
    fn import_seq(&mut self) -> Result<i64, CatalogError> {
        pg(self.query_one("SELECT COALESCE(MAX(seq), 0)::BIGINT FROM imports", &[])?.try_get(0))
    }

    fn put_object(&mut self, kind: &str, id: &str, body: &str) -> Result<(), CatalogError> {
        self.execute(
            "INSERT INTO objects (kind, id, body) VALUES ($1, $2, $3)
             ON CONFLICT (kind, id) DO UPDATE SET body = EXCLUDED.body",
            &[&kind, &id, &body],
        )?;
        Ok(())
    }

    fn replace_assignments(&mut self, service: &str, rows: &[AssignmentRow]) -> Result<(), CatalogError> {
        self.execute("DELETE FROM assignments WHERE service = $1", &[&service])?;
        for a in rows {
            self.execute(
                "INSERT INTO assignments (service, position, kind, resource, from_ns, to_ns) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&service, &a.position, &a.kind, &a.resource, &a.from.as_nanos(), &a.to.map(Timestamp::as_nanos)],
            )?;
        }
        Ok(())
    }

    fn insert_import(&mut self, seq: i64, at: Timestamp, source: &str, s: &ImportSummary) -> Result<(), CatalogError> {
        self.execute(
            "INSERT INTO imports (seq, at_ns, source, created, updated) VALUES ($1, $2, $3, $4, $5)",
            &[&seq, &at.as_nanos(), &source, &s.created, &s.updated],
        )?;
        Ok(())
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<bool, CatalogError> {
        let hash: &[u8] = &t.hash.0;
        let inserted = self.execute(
            &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"),
            &[
                &t.id.as_str(),
                &hash,
                &t.role.name(),
                &t.role.customer().map(|c| c.as_str()),
                &t.label,
                &t.created_at.as_nanos(),
                &t.revoked_at.map(Timestamp::as_nanos),
            ],
        )?;
        Ok(inserted == 1)
    }

    fn revoke_token(&mut self, id: &TokenId, at: Timestamp) -> Result<bool, CatalogError> {
        let n = self.execute(
            "UPDATE tokens SET revoked_ns = $2 WHERE id = $1 AND revoked_ns IS NULL",
            &[&id.as_str(), &at.as_nanos()],
        )?;
        Ok(n == 1)
    }
}

/// The session advisory lock that claims a period's billing run: "runs" in the high half, the
/// period's hash in the low half.
fn run_lock(period: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(period.as_bytes());
    (0x7275_6e73_i64 << 32) | i64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
}

/// A billing-run claim: a session advisory lock held on a connection of its own. Released by
/// `pg_advisory_unlock` when the claim ends, so the next run can claim the period at once; if
/// that fails, the connection is closed instead of pooled (the server then drops the lock when
/// its backend exits, as it does when this process dies).
struct PgRunClaim {
    client: Option<Object>,
    key: i64,
    handle: tokio::runtime::Handle,
}

impl Drop for PgRunClaim {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let unlocked = self.handle.block_on(c.query_one("SELECT pg_advisory_unlock($1)", &[&self.key]));
            if !unlocked.is_ok_and(|r| r.try_get::<_, bool>(0).unwrap_or(false)) {
                drop(Object::take(c));
            }
        }
    }
}

impl super::Backend for PostgresCatalog {
    fn describe(&self) -> String {
        format!("postgres:{}", self.target)
    }

    fn reads_in_place(&self) -> bool {
        false
    }

    fn claim_billing_run(&self, period: crate::period::BillingPeriod) -> Result<Option<super::RunClaim>, CatalogError> {
        let c = self.client()?;
        let key = run_lock(&period.to_string());
        let got: bool = pg(pg(self.rt.block_on(c.query_one("SELECT pg_try_advisory_lock($1)", &[&key])))?.try_get(0))?;
        let handle = self.rt.handle.clone();
        Ok(got.then(|| super::RunClaim::new(PgRunClaim { client: Some(c), key, handle })))
    }

    fn table_counts(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        let tx = PgTx::begin(self, false)?;
        super::backend::TABLES
            .iter()
            .map(|t| Ok(((*t).to_owned(), pg(tx.query_one(&format!("SELECT COUNT(*) FROM {t}"), &[])?.try_get(0))?)))
            .collect()
    }
}
