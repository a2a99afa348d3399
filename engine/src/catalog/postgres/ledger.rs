//! The ledger's statements on PostgreSQL ([`LedgerTx`]); the rules are in
//! [`crate::catalog::ledger`]. A write transaction takes a transaction-scoped advisory lock
//! first, so writers are one at a time across every process sharing the database: the audit
//! chain has one tail, a number is allocated only with its invoice (the counter row is locked
//! too), and a generation check cannot race an import. A read transaction is one `REPEATABLE
//! READ` snapshot.

use deadpool_postgres::Object;
use rust_decimal::Decimal;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgError, PgRuntime, PostgresCatalog};
use crate::catalog::LedgerError;
use crate::catalog::ledger::{Attempt, InvoiceRow, LedgerTx, Settled, Transactions};
use crate::id::{InvoiceId, PaymentId};
use crate::invoicing::audit::Entry;
use crate::invoicing::credit_note::CreditNote;
use crate::invoicing::invoice::Status;
use crate::invoicing::record::{BillingRun, InvoiceFilter, Payment};
use crate::time::Timestamp;

type Result<T> = std::result::Result<T, LedgerError>;

/// Key of the advisory lock every write transaction takes.
pub(crate) const WRITE_LOCK: i64 = 0x636f_6c6f_6c65_6401; // "coloLed" + 1

/// Statement parameters.
pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

/// One PostgreSQL transaction on a pooled connection. Dropped without [`LedgerTx::commit`], it
/// rolls back; a connection whose rollback fails is closed, never returned to the pool.
pub struct PgTx<'a> {
    rt: &'a PgRuntime,
    client: Option<Object>,
}

impl<'a> PgTx<'a> {
    pub(crate) fn begin(catalog: &'a PostgresCatalog, write: bool) -> std::result::Result<Self, PgError> {
        let client = catalog.client()?;
        let begin = if write { "BEGIN" } else { "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" };
        let tx = Self { rt: &catalog.rt, client: Some(client) };
        tx.rt.block_on(async {
            let c = tx.conn()?;
            c.batch_execute(begin).await?;
            if write {
                c.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).await?;
            }
            Ok::<_, PgError>(())
        })?;
        Ok(tx)
    }

    fn conn(&self) -> std::result::Result<&Object, PgError> {
        self.client.as_ref().ok_or_else(|| PgError::Ended)
    }

    /// Runs a statement returning rows.
    pub(crate) fn query(&self, sql: &str, params: &Params<'_>) -> std::result::Result<Vec<Row>, PgError> {
        self.rt.block_on(async {
            let c = self.conn()?;
            let st = c.prepare_cached(sql).await?;
            Ok(c.query(&st, params).await?)
        })
    }

    /// Runs a statement returning at most one row.
    pub(crate) fn query_opt(&self, sql: &str, params: &Params<'_>) -> std::result::Result<Option<Row>, PgError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a statement returning exactly one row.
    pub(crate) fn query_one(&self, sql: &str, params: &Params<'_>) -> std::result::Result<Row, PgError> {
        self.rt.block_on(async {
            let c = self.conn()?;
            let st = c.prepare_cached(sql).await?;
            Ok(c.query_one(&st, params).await?)
        })
    }

    /// Runs a statement; the rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &Params<'_>) -> std::result::Result<u64, PgError> {
        self.rt.block_on(async {
            let c = self.conn()?;
            let st = c.prepare_cached(sql).await?;
            Ok(c.execute(&st, params).await?)
        })
    }

    /// Commits.
    pub(crate) fn commit_pg(mut self) -> std::result::Result<(), PgError> {
        let client = self.client.take().ok_or_else(|| PgError::Ended)?;
        match self.rt.block_on(client.batch_execute("COMMIT")) {
            Ok(()) => Ok(()),
            Err(e) => {
                // The outcome is unknown to us: never reuse this connection.
                drop(Object::take(client));
                Err(e.into())
            }
        }
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.rt.block_on(client.batch_execute("ROLLBACK")).is_err()
        {
            drop(Object::take(client));
        }
    }
}

impl Transactions for PostgresCatalog {
    type Tx<'a> = PgTx<'a>;

    fn write(&mut self) -> Result<PgTx<'_>> {
        Ok(PgTx::begin(self, true)?)
    }

    fn read(&self) -> Result<PgTx<'_>> {
        Ok(PgTx::begin(self, false)?)
    }
}

const ROW: &str = "SELECT id, status, body, evidence, sent_ns, paid_ns, voided_ns FROM invoices";

fn status_of(s: &str) -> Result<Status> {
    // The CHECK constraint admits only known states.
    Status::parse(s).ok_or_else(|| LedgerError::Unreadable(format!("invoice status {s:?}")))
}

fn invoice_row(r: &Row) -> Result<InvoiceRow> {
    let ts = |i: usize| -> Result<Option<Timestamp>> {
        Ok(r.try_get::<_, Option<i64>>(i).map_err(PgError::from)?.map(Timestamp::from_nanos))
    };
    Ok(InvoiceRow {
        id: r.try_get(0).map_err(PgError::from)?,
        status: status_of(r.try_get(1).map_err(PgError::from)?)?,
        body: r.try_get(2).map_err(PgError::from)?,
        evidence: r.try_get(3).map_err(PgError::from)?,
        sent_at: ts(4)?,
        paid_at: ts(5)?,
        voided_at: ts(6)?,
    })
}

fn strings(rows: Vec<Row>) -> Result<Vec<String>> {
    rows.iter().map(|r| Ok(r.try_get(0).map_err(PgError::from)?)).collect()
}

fn hash32(h: &[u8]) -> [u8; 32] {
    // A stored hash of the wrong length breaks the chain's verification (never a panic).
    <[u8; 32]>::try_from(h).unwrap_or([0xff; 32])
}

fn get<'r, T: tokio_postgres::types::FromSql<'r>>(r: &'r Row, i: usize) -> Result<T> {
    Ok(r.try_get(i).map_err(PgError::from)?)
}

impl LedgerTx for PgTx<'_> {
    fn invoice_row(&mut self, id: &str) -> Result<Option<InvoiceRow>> {
        self.query_opt(&format!("{ROW} WHERE id = $1"), &[&id])?.as_ref().map(invoice_row).transpose()
    }

    fn invoice_rows(&mut self, f: &InvoiceFilter, limit: usize) -> Result<Vec<InvoiceRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let status = f.status.map(Status::as_str);
        let rows = self.query(
            &format!(
                "{ROW} WHERE ($1::text IS NULL OR customer = $1) AND ($2::text IS NULL OR period = $2)
                   AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR id > $4)
                 ORDER BY id LIMIT $5"
            ),
            &[&f.customer, &f.period.map(|p| p.to_string()), &status, &f.after, &limit],
        )?;
        rows.iter().map(invoice_row).collect()
    }

    fn status_counts(&mut self) -> Result<Vec<(String, u64)>> {
        let rows = self.query("SELECT status, COUNT(*) FROM invoices GROUP BY status ORDER BY status", &[])?;
        rows.iter().map(|r| Ok((get(r, 0)?, u64::try_from(get::<i64>(r, 1)?).unwrap_or(0)))).collect()
    }

    fn period_attempts(&mut self, customer: &str, period: &str) -> Result<Vec<Attempt>> {
        let rows = self.query(
            "SELECT id, status, attempt FROM invoices WHERE customer = $1 AND period = $2 ORDER BY attempt",
            &[&customer, &period],
        )?;
        rows.iter()
            .map(|r| Ok(Attempt { id: get(r, 0)?, status: status_of(get(r, 1)?)?, attempt: get(r, 2)? }))
            .collect()
    }

    fn draft_customers(&mut self, period: &str) -> Result<Vec<String>> {
        strings(
            self.query("SELECT DISTINCT customer FROM invoices WHERE period = $1 AND status = 'draft'", &[&period])?,
        )
    }

    fn draft_is(&mut self, id: &str, body: &str, evidence: &str) -> Result<bool> {
        let r =
            self.query_one("SELECT body = $2 AND evidence = $3 FROM invoices WHERE id = $1", &[&id, &body, &evidence])?;
        get(&r, 0)
    }

    fn insert_draft(
        &mut self,
        id: &str,
        customer: &str,
        period: &str,
        attempt: i64,
        body: &str,
        evidence: &str,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO invoices (id, customer, period, attempt, status, body, evidence) VALUES ($1, $2, $3, $4, 'draft', $5, $6)",
            &[&id, &customer, &period, &attempt, &body, &evidence],
        )?;
        Ok(())
    }

    fn replace_draft(&mut self, id: &str, body: &str, evidence: &str) -> Result<()> {
        self.execute(
            "UPDATE invoices SET body = $2, evidence = $3 WHERE id = $1 AND status = 'draft'",
            &[&id, &body, &evidence],
        )?;
        Ok(())
    }

    fn delete_draft(&mut self, id: &str) -> Result<()> {
        self.execute("DELETE FROM invoices WHERE id = $1 AND status = 'draft'", &[&id])?;
        Ok(())
    }

    fn run_count(&mut self, period: &str) -> Result<i64> {
        get(&self.query_one("SELECT COUNT(*) FROM billing_runs WHERE period = $1", &[&period])?, 0)
    }

    fn insert_run(&mut self, run: &BillingRun, body: &str) -> Result<()> {
        self.execute(
            "INSERT INTO billing_runs (id, period, at_ns, actor, body) VALUES ($1, $2, $3, $4, $5)",
            &[&run.id.as_str(), &run.period.to_string(), &run.at.as_nanos(), &run.actor, &body],
        )?;
        Ok(())
    }

    fn run_bodies(&mut self) -> Result<Vec<String>> {
        strings(self.query("SELECT body FROM billing_runs ORDER BY at_ns DESC, id DESC", &[])?)
    }

    fn next_number(&mut self, series: &str, year: i32) -> Result<i64> {
        let r = self.query_one(
            "INSERT INTO numbering (series, year, last) VALUES ($1, $2, 1)
             ON CONFLICT (series, year) DO UPDATE SET last = numbering.last + 1 RETURNING last",
            &[&series, &year],
        )?;
        get(&r, 0)
    }

    fn set_finalized(&mut self, id: &str, number: &str, body: &str, at: Timestamp) -> Result<()> {
        self.execute(
            "UPDATE invoices SET status = 'finalized', number = $2, body = $3, finalized_ns = $4 WHERE id = $1 AND status = 'draft'",
            &[&id, &number, &body, &at.as_nanos()],
        )?;
        Ok(())
    }

    fn set_status(&mut self, id: &str, to: Settled, at: Timestamp) -> Result<()> {
        let sql = match to {
            Settled::Sent => "UPDATE invoices SET status = 'sent', sent_ns = $2 WHERE id = $1",
            Settled::Paid => "UPDATE invoices SET status = 'paid', paid_ns = $2 WHERE id = $1",
            Settled::Void => "UPDATE invoices SET status = 'void', voided_ns = $2 WHERE id = $1",
        };
        self.execute(sql, &[&id, &at.as_nanos()])?;
        Ok(())
    }

    fn note_bodies(&mut self, invoice: &str) -> Result<Vec<String>> {
        strings(self.query("SELECT body FROM credit_notes WHERE invoice = $1 ORDER BY issued_ns, id", &[&invoice])?)
    }

    fn note_body(&mut self, id: &str) -> Result<Option<String>> {
        self.query_opt("SELECT body FROM credit_notes WHERE id = $1", &[&id])?.map(|r| get(&r, 0)).transpose()
    }

    fn insert_note(&mut self, note: &CreditNote, body: &str) -> Result<()> {
        self.execute(
            "INSERT INTO credit_notes (id, invoice, body, issued_ns) VALUES ($1, $2, $3, $4)",
            &[&note.id.as_str(), &note.invoice.as_str(), &body, &note.issued_at.as_nanos()],
        )?;
        Ok(())
    }

    fn payments(&mut self, invoice: &InvoiceId) -> Result<Vec<Payment>> {
        let rows = self.query(
            "SELECT id, amount, paid_ns, reference, recorded_ns FROM payments WHERE invoice = $1 ORDER BY recorded_ns, id",
            &[&invoice.as_str()],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Payment {
                    id: PaymentId::new(get::<String>(r, 0)?)?,
                    invoice: invoice.clone(),
                    amount: get::<Decimal>(r, 1)?,
                    paid_at: Timestamp::from_nanos(get(r, 2)?),
                    reference: get(r, 3)?,
                    recorded_at: Timestamp::from_nanos(get(r, 4)?),
                })
            })
            .collect()
    }

    fn payment_count(&mut self) -> Result<i64> {
        get(&self.query_one("SELECT COUNT(*) FROM payments", &[])?, 0)
    }

    fn insert_payment(&mut self, p: &Payment) -> Result<()> {
        self.execute(
            "INSERT INTO payments (id, invoice, amount, paid_ns, reference, recorded_ns) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&p.id.as_str(), &p.invoice.as_str(), &p.amount, &p.paid_at.as_nanos(), &p.reference, &p.recorded_at.as_nanos()],
        )?;
        Ok(())
    }

    fn audit_tail(&mut self) -> Result<Option<(i64, [u8; 32])>> {
        let r = self.query_opt("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", &[])?;
        r.map(|r| Ok((get(&r, 0)?, hash32(&get::<Vec<u8>>(&r, 1)?)))).transpose()
    }

    fn insert_audit(&mut self, e: &Entry) -> Result<()> {
        self.execute(
            "INSERT INTO audit_log (seq, at_ns, actor, action, object, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&e.seq, &e.at.as_nanos(), &e.actor, &e.action, &e.object, &e.detail, &&e.prev_hash[..], &&e.hash[..]],
        )?;
        Ok(())
    }

    fn audit_entries(&mut self) -> Result<Vec<Entry>> {
        let rows = self.query(
            "SELECT seq, at_ns, actor, action, object, detail, prev_hash, hash FROM audit_log ORDER BY seq",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Entry {
                    seq: get(r, 0)?,
                    at: Timestamp::from_nanos(get(r, 1)?),
                    actor: get(r, 2)?,
                    action: get(r, 3)?,
                    object: get(r, 4)?,
                    detail: get(r, 5)?,
                    prev_hash: hash32(&get::<Vec<u8>>(r, 6)?),
                    hash: hash32(&get::<Vec<u8>>(r, 7)?),
                })
            })
            .collect()
    }

    fn commit(self) -> Result<()> {
        Ok(self.commit_pg()?)
    }
}
