//! The ledger's statements on SQLite ([`LedgerTx`]); the rules are in [`crate::catalog::ledger`].
//! A write transaction is `BEGIN IMMEDIATE` (one writer at a time); a read is a deferred
//! transaction (one snapshot). Triggers (migration 2) refuse any edit of an issued invoice,
//! credit note, payment or audit entry even from outside colometer.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteCatalog;
use crate::catalog::LedgerError;
use crate::catalog::ledger::{Attempt, InvoiceRow, LedgerTx, Settled, Transactions};
use crate::id::{InvoiceId, PaymentId};
use crate::invoicing::audit::Entry;
use crate::invoicing::credit_note::CreditNote;
use crate::invoicing::invoice::Status;
use crate::invoicing::record::{BillingRun, InvoiceFilter, Payment};
use crate::time::Timestamp;

type Result<T> = std::result::Result<T, LedgerError>;

/// One SQLite ledger transaction.
pub struct SqliteTx<'a> {
    tx: Transaction<'a>,
}

impl<'a> SqliteTx<'a> {
    /// The connection inside the transaction (the catalog's own statements share it).
    pub(crate) fn conn(&self) -> &rusqlite::Connection {
        &self.tx
    }
}

impl Transactions for SqliteCatalog {
    type Tx<'a> = SqliteTx<'a>;

    fn write(&mut self) -> Result<SqliteTx<'_>> {
        Ok(SqliteTx { tx: self.conn.transaction_with_behavior(TransactionBehavior::Immediate)? })
    }

    fn read(&self) -> Result<SqliteTx<'_>> {
        Ok(SqliteTx { tx: self.conn.unchecked_transaction()? })
    }
}

const ROW: &str = "SELECT id, status, body, evidence, sent_ns, paid_ns, voided_ns FROM invoices";

fn status_of(s: &str, col: usize) -> rusqlite::Result<Status> {
    // The CHECK constraint admits only known states.
    Status::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, format!("status {s:?}").into())
    })
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InvoiceRow> {
    let ts = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Timestamp::from_nanos))
    };
    Ok(InvoiceRow {
        id: r.get(0)?,
        status: status_of(&r.get::<_, String>(1)?, 1)?,
        body: r.get(2)?,
        evidence: r.get(3)?,
        sent_at: ts(4)?,
        paid_at: ts(5)?,
        voided_at: ts(6)?,
    })
}

fn hash32(h: &[u8]) -> [u8; 32] {
    // A stored hash of the wrong length breaks the chain's verification (never a panic).
    <[u8; 32]>::try_from(h).unwrap_or([0xff; 32])
}

fn strings(tx: &rusqlite::Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

impl LedgerTx for SqliteTx<'_> {
    fn invoice_row(&mut self, id: &str) -> Result<Option<InvoiceRow>> {
        Ok(self.tx.prepare_cached(&format!("{ROW} WHERE id = ?1"))?.query_row(params![id], read_row).optional()?)
    }

    fn invoice_rows(&mut self, f: &InvoiceFilter, limit: usize) -> Result<Vec<InvoiceRow>> {
        let mut stmt = self.tx.prepare(&format!(
            "{ROW} WHERE (?1 IS NULL OR customer = ?1) AND (?2 IS NULL OR period = ?2)
               AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR id > ?4)
             ORDER BY id LIMIT {limit}"
        ))?;
        let rows = stmt
            .query_map(
                params![f.customer, f.period.map(|p| p.to_string()), f.status.map(Status::as_str), f.after],
                read_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn status_counts(&mut self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.tx.prepare("SELECT status, COUNT(*) FROM invoices GROUP BY status ORDER BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| r.map(|(s, n)| (s, u64::try_from(n).unwrap_or(0))).map_err(LedgerError::from)).collect()
    }

    fn period_attempts(&mut self, customer: &str, period: &str) -> Result<Vec<Attempt>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, status, attempt FROM invoices WHERE customer = ?1 AND period = ?2 ORDER BY attempt",
        )?;
        let rows = stmt
            .query_map(params![customer, period], |r| {
                Ok(Attempt { id: r.get(0)?, status: status_of(&r.get::<_, String>(1)?, 1)?, attempt: r.get(2)? })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn draft_customers(&mut self, period: &str) -> Result<Vec<String>> {
        strings(
            &self.tx,
            "SELECT DISTINCT customer FROM invoices WHERE period = ?1 AND status = 'draft'",
            params![period],
        )
    }

    fn draft_is(&mut self, id: &str, body: &str, evidence: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT body = ?2 AND evidence = ?3 FROM invoices WHERE id = ?1")?
            .query_row(params![id, body, evidence], |r| r.get(0))?)
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
        self.tx
            .prepare_cached(
                "INSERT INTO invoices (id, customer, period, attempt, status, body, evidence) VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6)",
            )?
            .execute(params![id, customer, period, attempt, body, evidence])?;
        Ok(())
    }

    fn replace_draft(&mut self, id: &str, body: &str, evidence: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE invoices SET body = ?2, evidence = ?3 WHERE id = ?1 AND status = 'draft'")?
            .execute(params![id, body, evidence])?;
        Ok(())
    }

    fn delete_draft(&mut self, id: &str) -> Result<()> {
        self.tx.execute("DELETE FROM invoices WHERE id = ?1 AND status = 'draft'", params![id])?;
        Ok(())
    }

    fn run_count(&mut self, period: &str) -> Result<i64> {
        Ok(self.tx.query_row("SELECT COUNT(*) FROM billing_runs WHERE period = ?1", params![period], |r| r.get(0))?)
    }

    fn insert_run(&mut self, run: &BillingRun, body: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO billing_runs (id, period, at_ns, actor, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run.id.as_str(), run.period.to_string(), run.at.as_nanos(), run.actor, body],
        )?;
        Ok(())
    }

    fn run_bodies(&mut self) -> Result<Vec<String>> {
        strings(&self.tx, "SELECT body FROM billing_runs ORDER BY at_ns DESC, id DESC", [])
    }

    fn next_number(&mut self, series: &str, year: i32) -> Result<i64> {
        Ok(self.tx.query_row(
            "INSERT INTO numbering (series, year, last) VALUES (?1, ?2, 1)
             ON CONFLICT (series, year) DO UPDATE SET last = last + 1 RETURNING last",
            params![series, year],
            |r| r.get(0),
        )?)
    }

    fn set_finalized(&mut self, id: &str, number: &str, body: &str, at: Timestamp) -> Result<()> {
        self.tx.execute(
            "UPDATE invoices SET status = 'finalized', number = ?2, body = ?3, finalized_ns = ?4 WHERE id = ?1 AND status = 'draft'",
            params![id, number, body, at.as_nanos()],
        )?;
        Ok(())
    }

    fn set_status(&mut self, id: &str, to: Settled, at: Timestamp) -> Result<()> {
        let sql = match to {
            Settled::Sent => "UPDATE invoices SET status = 'sent', sent_ns = ?2 WHERE id = ?1",
            Settled::Paid => "UPDATE invoices SET status = 'paid', paid_ns = ?2 WHERE id = ?1",
            Settled::Void => "UPDATE invoices SET status = 'void', voided_ns = ?2 WHERE id = ?1",
        };
        self.tx.execute(sql, params![id, at.as_nanos()])?;
        Ok(())
    }

    fn note_bodies(&mut self, invoice: &str) -> Result<Vec<String>> {
        strings(&self.tx, "SELECT body FROM credit_notes WHERE invoice = ?1 ORDER BY issued_ns, id", params![invoice])
    }

    fn note_body(&mut self, id: &str) -> Result<Option<String>> {
        Ok(self.tx.query_row("SELECT body FROM credit_notes WHERE id = ?1", params![id], |r| r.get(0)).optional()?)
    }

    fn insert_note(&mut self, note: &CreditNote, body: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO credit_notes (id, invoice, body, issued_ns) VALUES (?1, ?2, ?3, ?4)",
            params![note.id.as_str(), note.invoice.as_str(), body, note.issued_at.as_nanos()],
        )?;
        Ok(())
    }

    fn payments(&mut self, invoice: &InvoiceId) -> Result<Vec<Payment>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, amount, paid_ns, reference, recorded_ns FROM payments WHERE invoice = ?1 ORDER BY recorded_ns, id",
        )?;
        let rows: Vec<(String, String, i64, Option<String>, i64)> = stmt
            .query_map(params![invoice.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(id, amount, paid, reference, recorded)| {
                Ok(Payment {
                    id: PaymentId::new(id)?,
                    invoice: invoice.clone(),
                    amount: amount
                        .parse()
                        .map_err(|e| LedgerError::Unreadable(format!("payment amount {amount:?}: {e}")))?,
                    paid_at: Timestamp::from_nanos(paid),
                    reference,
                    recorded_at: Timestamp::from_nanos(recorded),
                })
            })
            .collect()
    }

    fn payment_count(&mut self) -> Result<i64> {
        Ok(self.tx.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0))?)
    }

    fn insert_payment(&mut self, p: &Payment) -> Result<()> {
        self.tx.execute(
            "INSERT INTO payments (id, invoice, amount, paid_ns, reference, recorded_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                p.id.as_str(),
                p.invoice.as_str(),
                p.amount.to_string(),
                p.paid_at.as_nanos(),
                p.reference,
                p.recorded_at.as_nanos()
            ],
        )?;
        Ok(())
    }

    fn audit_tail(&mut self) -> Result<Option<(i64, [u8; 32])>> {
        let last: Option<(i64, Vec<u8>)> = self
            .tx
            .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(last.map(|(seq, h)| (seq, hash32(&h))))
    }

    fn insert_audit(&mut self, e: &Entry) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO audit_log (seq, at_ns, actor, action, object, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                e.seq,
                e.at.as_nanos(),
                e.actor,
                e.action,
                e.object,
                e.detail,
                e.prev_hash.as_slice(),
                e.hash.as_slice()
            ])?;
        Ok(())
    }

    fn audit_entries(&mut self) -> Result<Vec<Entry>> {
        let mut stmt = self
            .tx
            .prepare("SELECT seq, at_ns, actor, action, object, detail, prev_hash, hash FROM audit_log ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(Entry {
                seq: r.get(0)?,
                at: Timestamp::from_nanos(r.get(1)?),
                actor: r.get(2)?,
                action: r.get(3)?,
                object: r.get(4)?,
                detail: r.get(5)?,
                prev_hash: hash32(&r.get::<_, Vec<u8>>(6)?),
                hash: hash32(&r.get::<_, Vec<u8>>(7)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}
