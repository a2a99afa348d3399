//! The invoicing ledger in the catalog database. Every change is one IMMEDIATE transaction that
//! also appends its audit entry, so a number is never allocated without its invoice (gapless)
//! and no change happens unaudited. Triggers (migration 2) refuse any edit of an issued invoice,
//! credit note, payment or audit entry even from outside colometer.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use rust_decimal::Decimal;

use super::SqliteCatalog;
use crate::id::{BillingRunId, CreditNoteId, CustomerId, InvoiceId, PaymentId};
use crate::invoicing::audit::{self, Entry, GENESIS};
use crate::invoicing::credit_note::{self, CreditNote, NoteHead};
use crate::invoicing::invoice::{Body, Draft, Issued, Rated, Status, number};
use crate::invoicing::record::{BillingRun, InvoiceFilter, InvoiceView, LedgerError, LineEvidence, Payment};
use crate::invoicing::run::numbering_year;
use crate::rating::money::round_to_minor_unit;
use crate::time::Timestamp;

type Result<T> = std::result::Result<T, LedgerError>;

struct Row {
    id: String,
    status: Status,
    body: String,
    evidence: String,
    sent_ns: Option<i64>,
    paid_ns: Option<i64>,
    voided_ns: Option<i64>,
}

const ROW: &str = "SELECT id, status, body, evidence, sent_ns, paid_ns, voided_ns FROM invoices";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let status: String = r.get(1)?;
    // The CHECK constraint admits only known states.
    let status = Status::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, format!("status {status:?}").into())
    })?;
    Ok(Row {
        id: r.get(0)?,
        status,
        body: r.get(2)?,
        evidence: r.get(3)?,
        sent_ns: r.get(4)?,
        paid_ns: r.get(5)?,
        voided_ns: r.get(6)?,
    })
}

fn load(tx: &rusqlite::Connection, id: &str) -> Result<Row> {
    tx.query_row(&format!("{ROW} WHERE id = ?1"), params![id], read_row).optional()?.ok_or(LedgerError::NotFound)
}

/// Appends one audit entry inside `tx`.
pub(crate) fn append_audit(
    tx: &rusqlite::Connection,
    at: Timestamp,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    let last: Option<(i64, Vec<u8>)> = tx
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        Some((seq, h)) => (seq + 1, <[u8; 32]>::try_from(h.as_slice()).unwrap_or(GENESIS)),
        None => (1, GENESIS),
    };
    let hash = audit::hash(&prev, seq, at, actor, action, object, detail);
    tx.execute(
        "INSERT INTO audit_log (seq, at_ns, actor, action, object, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at.as_nanos(), actor, action, object, detail, prev.as_slice(), hash.as_slice()],
    )?;
    Ok(())
}

fn next_number(tx: &Transaction<'_>, series: &str, year: i32) -> rusqlite::Result<i64> {
    tx.query_row(
        "INSERT INTO numbering (series, year, last) VALUES (?1, ?2, 1)
         ON CONFLICT (series, year) DO UPDATE SET last = last + 1 RETURNING last",
        params![series, year],
        |r| r.get(0),
    )
}

/// The ID of a customer's `attempt`-th invoice for a period (`acme.2026-10`, then `acme.2026-10.2`
/// after a void); IDs stay within the ID alphabet and length.
fn invoice_id(customer: &CustomerId, period: &str, attempt: i64) -> Result<InvoiceId> {
    let suffix = if attempt == 1 { String::new() } else { format!(".{attempt}") };
    let mut id = format!("{customer}.{period}{suffix}");
    if id.len() > crate::id::MAX_ID_LEN {
        use sha2::{Digest, Sha256};
        let h = hex::encode(&Sha256::digest(customer.as_str().as_bytes())[..8]);
        id = format!("inv-{h}.{period}{suffix}");
    }
    InvoiceId::new(id).map_err(|e| LedgerError::Rule(format!("invoice id: {e}")))
}

fn ts(ns: Option<i64>) -> Option<Timestamp> {
    ns.map(Timestamp::from_nanos)
}

impl SqliteCatalog {
    /// Stores a billing run's results for `period`, in one transaction: per customer, a draft is
    /// created or rebuilt (same ID), an issued invoice is kept untouched, a draft for a customer
    /// with nothing to bill any more is discarded. `considered` is every customer the run looked
    /// at; `rated` holds those with lines.
    pub fn apply_billing_run(
        &mut self,
        period: &str,
        considered: &[CustomerId],
        rated: Vec<Rated>,
        actor: &str,
        at: Timestamp,
    ) -> Result<BillingRun> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let runs: i64 =
            tx.query_row("SELECT COUNT(*) FROM billing_runs WHERE period = ?1", params![period], |r| r.get(0))?;
        let mut run = BillingRun {
            id: BillingRunId::new(format!("run-{period}-{}", runs + 1))?,
            period: period.to_owned(),
            at,
            actor: actor.to_owned(),
            invoices: vec![],
            created: vec![],
            rebuilt: vec![],
            unchanged: vec![],
            kept: vec![],
            discarded: vec![],
        };
        let mut rated: std::collections::BTreeMap<CustomerId, Rated> =
            rated.into_iter().map(|r| (r.customer.clone(), r)).collect();
        let mut customers: Vec<CustomerId> = considered.to_vec();
        {
            let mut stmt =
                tx.prepare("SELECT DISTINCT customer FROM invoices WHERE period = ?1 AND status = 'draft'")?;
            for c in stmt.query_map(params![period], |r| r.get::<_, String>(0))? {
                if let Ok(c) = CustomerId::new(c?) {
                    customers.push(c);
                }
            }
        }
        customers.extend(rated.keys().cloned());
        customers.sort();
        customers.dedup();
        for customer in customers {
            let existing: Vec<(String, String, i64)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, status, attempt FROM invoices WHERE customer = ?1 AND period = ?2 ORDER BY attempt",
                )?;
                stmt.query_map(params![customer.as_str(), period], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let issued = existing.iter().find(|(_, s, _)| matches!(s.as_str(), "finalized" | "sent" | "paid"));
            if let Some((id, _, _)) = issued {
                let id = InvoiceId::new(id.clone())?;
                run.kept.push(id.clone());
                run.invoices.push(id);
                continue;
            }
            let draft = existing.iter().find(|(_, s, _)| s == "draft");
            match (rated.remove(&customer), draft) {
                (Some(r), Some((id, _, _))) => {
                    let id = InvoiceId::new(id.clone())?;
                    let d = Draft::new(id.clone(), r)?;
                    let body = serde_json::to_string(d.body())?;
                    let evidence = d.evidence_json();
                    // Compared inside SQLite: the stored documents are not copied out.
                    let same: bool = tx
                        .prepare_cached("SELECT body = ?2 AND evidence = ?3 FROM invoices WHERE id = ?1")?
                        .query_row(params![id.as_str(), body, evidence], |r| r.get(0))?;
                    if same {
                        run.unchanged.push(id.clone());
                    } else {
                        tx.prepare_cached(
                            "UPDATE invoices SET body = ?2, evidence = ?3 WHERE id = ?1 AND status = 'draft'",
                        )?
                        .execute(params![id.as_str(), body, evidence])?;
                        run.rebuilt.push(id.clone());
                    }
                    run.invoices.push(id);
                }
                (Some(r), None) => {
                    let attempt = existing.iter().map(|(_, _, a)| *a).max().unwrap_or(0) + 1;
                    let id = invoice_id(&customer, period, attempt)?;
                    let d = Draft::new(id.clone(), r)?;
                    tx.prepare_cached(
                        "INSERT INTO invoices (id, customer, period, attempt, status, body, evidence) VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6)",
                    )?
                    .execute(params![
                            id.as_str(),
                            customer.as_str(),
                            period,
                            attempt,
                            serde_json::to_string(d.body())?,
                            d.evidence_json()
                        ],
                    )?;
                    run.created.push(id.clone());
                    run.invoices.push(id);
                }
                (None, Some((id, _, _))) => {
                    tx.execute("DELETE FROM invoices WHERE id = ?1 AND status = 'draft'", params![id])?;
                    run.discarded.push(InvoiceId::new(id.clone())?);
                }
                (None, None) => {}
            }
        }
        let body = serde_json::to_string(&run)?;
        tx.execute(
            "INSERT INTO billing_runs (id, period, at_ns, actor, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run.id.as_str(), period, at.as_nanos(), actor, body],
        )?;
        let detail = serde_json::json!({
            "created": run.created, "rebuilt": run.rebuilt, "unchanged": run.unchanged.len(),
            "kept": run.kept, "discarded": run.discarded,
        });
        append_audit(&tx, at, actor, "billing_run", run.id.as_str(), &detail.to_string())?;
        tx.commit()?;
        Ok(run)
    }

    /// Past billing runs, newest first.
    pub fn billing_runs(&self) -> Result<Vec<BillingRun>> {
        let mut stmt = self.conn.prepare("SELECT body FROM billing_runs ORDER BY at_ns DESC, id DESC")?;
        let bodies: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        bodies.iter().map(|b| serde_json::from_str(b).map_err(LedgerError::from)).collect()
    }

    fn view(&self, row: Row) -> Result<InvoiceView> {
        let body: Body = serde_json::from_str(&row.body)?;
        let notes = credit_notes_in(&self.conn, &row.id)?;
        let payments = payments_in(&self.conn, &row.id)?;
        let credited: Decimal = notes.iter().map(|c| c.total).sum();
        let paid: Decimal = payments.iter().map(|p| p.amount).sum();
        let cur = body.currency;
        let (credited, paid) = (round_to_minor_unit(credited, cur), round_to_minor_unit(paid, cur));
        let balance = if row.status == Status::Draft { Decimal::ZERO } else { body.total - credited - paid };
        let balance = round_to_minor_unit(balance, cur);
        Ok(InvoiceView {
            body,
            status: row.status,
            sent_at: ts(row.sent_ns),
            paid_at: ts(row.paid_ns),
            voided_at: ts(row.voided_ns),
            credit_notes: notes.into_iter().map(|c| c.id).collect(),
            credited,
            paid,
            balance,
            payments,
        })
    }

    /// One invoice.
    pub fn invoice(&self, id: &str) -> Result<InvoiceView> {
        self.view(load(&self.conn, id)?)
    }

    /// How many invoices are in each status (`draft`, `finalized`, …), by status name.
    pub fn invoice_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare("SELECT status, COUNT(*) FROM invoices GROUP BY status ORDER BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| r.map(|(s, n)| (s, u64::try_from(n).unwrap_or(0))).map_err(LedgerError::from)).collect()
    }

    /// Invoices by ID, filtered, at most `limit` after the cursor; the next cursor if more exist.
    pub fn invoices(&self, f: &InvoiceFilter) -> Result<(Vec<InvoiceView>, Option<String>)> {
        let limit = f.limit.clamp(1, 1000);
        let mut stmt = self.conn.prepare(&format!(
            "{ROW} WHERE (?1 IS NULL OR customer = ?1) AND (?2 IS NULL OR period = ?2)
               AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR id > ?4)
             ORDER BY id LIMIT {}",
            limit + 1
        ))?;
        let rows: Vec<Row> = stmt
            .query_map(params![f.customer, f.period, f.status.map(Status::as_str), f.after], read_row)?
            .collect::<rusqlite::Result<_>>()?;
        let more = rows.len() > limit;
        let mut out = Vec::with_capacity(limit);
        for row in rows.into_iter().take(limit) {
            out.push(self.view(row)?);
        }
        let next = if more { out.last().map(|v| v.body.id.to_string()) } else { None };
        Ok((out, next))
    }

    /// The evidence of line `n` of an invoice.
    pub fn line_evidence(&self, id: &str, n: u32) -> Result<LineEvidence> {
        let row = load(&self.conn, id)?;
        let body: Body = serde_json::from_str(&row.body)?;
        let mut evidence: Vec<serde_json::Value> = serde_json::from_str(&row.evidence)?;
        let line = body.lines.iter().find(|l| l.n == n).cloned().ok_or(LedgerError::NotFound)?;
        let i = (n as usize).checked_sub(1).filter(|i| *i < evidence.len()).ok_or(LedgerError::NotFound)?;
        Ok(LineEvidence { invoice: body.id, line, evidence: evidence.swap_remove(i) })
    }

    /// Finalizes a draft whose period has ended by `at` (else `Rule`): the next gapless number of the year `at` falls in, then immutable.
    pub fn finalize_invoice(&mut self, id: &str, actor: &str, at: Timestamp) -> Result<InvoiceView> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = load(&tx, id)?;
        if row.status != Status::Draft {
            return Err(LedgerError::Conflict(format!(
                "invoice {id} is {}: an issued invoice never changes",
                row.status.as_str()
            )));
        }
        let draft = Draft::from_parts(serde_json::from_str(&row.body)?, row.evidence);
        let b = draft.body();
        if b.to > at {
            return Err(LedgerError::Rule(format!(
                "period {} ends at {}: an invoice is finalized once its period has ended",
                b.period, b.to
            )));
        }
        let year = numbering_year(at);
        let seq = next_number(&tx, "invoice", year)?;
        let issued: Issued = draft.finalize(number("", year, seq), at);
        let body = serde_json::to_string(issued.body())?;
        tx.execute(
            "UPDATE invoices SET status = 'finalized', number = ?2, body = ?3, finalized_ns = ?4 WHERE id = ?1 AND status = 'draft'",
            params![id, issued.body().number, body, at.as_nanos()],
        )?;
        let detail = serde_json::json!({"number": issued.body().number, "total": issued.body().total});
        append_audit(&tx, at, actor, "invoice.finalize", id, &detail.to_string())?;
        tx.commit()?;
        self.invoice(id)
    }

    /// Marks a finalized invoice as sent.
    pub fn send_invoice(&mut self, id: &str, actor: &str, at: Timestamp) -> Result<InvoiceView> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = load(&tx, id)?;
        if row.status != Status::Finalized {
            return Err(LedgerError::Conflict(format!(
                "invoice {id} is {}; only a finalized invoice is sent",
                row.status.as_str()
            )));
        }
        tx.execute("UPDATE invoices SET status = 'sent', sent_ns = ?2 WHERE id = ?1", params![id, at.as_nanos()])?;
        append_audit(&tx, at, actor, "invoice.send", id, "{}")?;
        tx.commit()?;
        self.invoice(id)
    }

    fn issued(tx: &rusqlite::Connection, id: &str, allowed: &[Status], what: &str) -> Result<(Row, Issued)> {
        let row = load(tx, id)?;
        if !allowed.contains(&row.status) {
            return Err(LedgerError::Conflict(format!("invoice {id} is {}; {what}", row.status.as_str())));
        }
        let issued = Issued::from_body(serde_json::from_str(&row.body)?);
        Ok((row, issued))
    }

    fn note_head(tx: &Transaction<'_>, reason: String, at: Timestamp) -> Result<NoteHead> {
        let year = numbering_year(at);
        let seq = next_number(tx, "credit_note", year)?;
        let number = number("CN-", year, seq);
        let id = CreditNoteId::new(number.to_lowercase())?;
        Ok(NoteHead { id, number, reason, at })
    }

    fn insert_note(tx: &Transaction<'_>, note: &CreditNote, actor: &str) -> Result<()> {
        tx.execute(
            "INSERT INTO credit_notes (id, invoice, body, issued_ns) VALUES (?1, ?2, ?3, ?4)",
            params![note.id.as_str(), note.invoice.as_str(), serde_json::to_string(note)?, note.issued_at.as_nanos()],
        )?;
        let detail =
            serde_json::json!({"number": note.number, "total": note.total, "reason": note.reason, "voids": note.voids});
        append_audit(tx, note.issued_at, actor, "credit_note.issue", note.invoice.as_str(), &detail.to_string())?;
        Ok(())
    }

    /// Voids an issued, unpaid invoice through a credit note for everything left of it.
    pub fn void_invoice(&mut self, id: &str, reason: String, actor: &str, at: Timestamp) -> Result<CreditNote> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let what = "only a finalized or sent invoice is voided (a draft is rebuilt, a paid one credited)";
        let (_, issued) = Self::issued(&tx, id, &[Status::Finalized, Status::Sent], what)?;
        let prior = credit_notes_in(&tx, id)?;
        let head = Self::note_head(&tx, reason, at)?;
        let note = credit_note::voiding(&issued, &prior, head)?;
        Self::insert_note(&tx, &note, actor)?;
        tx.execute("UPDATE invoices SET status = 'void', voided_ns = ?2 WHERE id = ?1", params![id, at.as_nanos()])?;
        append_audit(&tx, at, actor, "invoice.void", id, &serde_json::json!({"credit_note": note.number}).to_string())?;
        tx.commit()?;
        Ok(note)
    }

    /// A partial credit note (a dispute) against an issued invoice.
    pub fn credit_invoice(
        &mut self,
        id: &str,
        amounts: &[(u32, Decimal)],
        reason: String,
        actor: &str,
        at: Timestamp,
    ) -> Result<CreditNote> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let what = "only an issued invoice is credited";
        let (_, issued) = Self::issued(&tx, id, &[Status::Finalized, Status::Sent, Status::Paid], what)?;
        let prior = credit_notes_in(&tx, id)?;
        let head = Self::note_head(&tx, reason, at)?;
        let note = credit_note::partial(&issued, &prior, amounts, head)?;
        Self::insert_note(&tx, &note, actor)?;
        tx.commit()?;
        Ok(note)
    }

    /// Records a payment; the invoice is paid when nothing is left to pay.
    pub fn record_payment(
        &mut self,
        id: &str,
        amount: Decimal,
        paid_at: Timestamp,
        reference: Option<String>,
        actor: &str,
        at: Timestamp,
    ) -> Result<Payment> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let what = "payments are recorded against finalized or sent invoices";
        let (_, issued) = Self::issued(&tx, id, &[Status::Finalized, Status::Sent], what)?;
        let cur = issued.body().currency;
        if amount <= Decimal::ZERO || round_to_minor_unit(amount, cur) != amount {
            return Err(LedgerError::Rule(format!(
                "a payment must be positive, in whole minor units of {cur}: {amount}"
            )));
        }
        let credited: Decimal = credit_notes_in(&tx, id)?.iter().map(|c| c.total).sum();
        let paid: Decimal = payments_in(&tx, id)?.iter().map(|p| p.amount).sum();
        let balance = issued.body().total - credited - paid;
        if amount > balance {
            return Err(LedgerError::Rule(format!("payment {amount} exceeds the balance {balance}")));
        }
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0))?;
        let pid = PaymentId::new(format!("pay-{}", n + 1))?;
        tx.execute(
            "INSERT INTO payments (id, invoice, amount, paid_ns, reference, recorded_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![pid.as_str(), id, amount.to_string(), paid_at.as_nanos(), reference, at.as_nanos()],
        )?;
        if amount == balance {
            tx.execute("UPDATE invoices SET status = 'paid', paid_ns = ?2 WHERE id = ?1", params![id, at.as_nanos()])?;
        }
        let detail = serde_json::json!({"payment": pid, "amount": amount, "reference": reference});
        append_audit(&tx, at, actor, "invoice.payment", id, &detail.to_string())?;
        tx.commit()?;
        let invoice = InvoiceId::new(id)?;
        Ok(Payment { id: pid, invoice, amount, paid_at, reference, recorded_at: at })
    }

    /// One credit note.
    pub fn credit_note(&self, id: &str) -> Result<CreditNote> {
        let body: String = self
            .conn
            .query_row("SELECT body FROM credit_notes WHERE id = ?1", params![id], |r| r.get(0))
            .optional()?
            .ok_or(LedgerError::NotFound)?;
        Ok(serde_json::from_str(&body)?)
    }

    /// The whole audit log, in order.
    pub fn audit_log(&self) -> Result<Vec<Entry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at_ns, actor, action, object, detail, prev_hash, hash FROM audit_log ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            let prev: Vec<u8> = r.get(6)?;
            let hash: Vec<u8> = r.get(7)?;
            Ok(Entry {
                seq: r.get(0)?,
                at: Timestamp::from_nanos(r.get(1)?),
                actor: r.get(2)?,
                action: r.get(3)?,
                object: r.get(4)?,
                detail: r.get(5)?,
                prev_hash: <[u8; 32]>::try_from(prev.as_slice()).unwrap_or([0xff; 32]),
                hash: <[u8; 32]>::try_from(hash.as_slice()).unwrap_or([0xff; 32]),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Appends an audit entry for a change made elsewhere (tokens, imports).
    pub fn audit(&mut self, at: Timestamp, actor: &str, action: &str, object: &str, detail: &str) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        append_audit(&tx, at, actor, action, object, detail)?;
        tx.commit()?;
        Ok(())
    }
}

fn credit_notes_in(conn: &rusqlite::Connection, invoice: &str) -> Result<Vec<CreditNote>> {
    let mut stmt = conn.prepare("SELECT body FROM credit_notes WHERE invoice = ?1 ORDER BY issued_ns, id")?;
    let bodies: Vec<String> = stmt.query_map(params![invoice], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    bodies.iter().map(|b| serde_json::from_str(b).map_err(LedgerError::from)).collect()
}

fn payments_in(conn: &rusqlite::Connection, invoice: &str) -> Result<Vec<Payment>> {
    let mut stmt = conn.prepare(
        "SELECT id, amount, paid_ns, reference, recorded_ns FROM payments WHERE invoice = ?1 ORDER BY recorded_ns, id",
    )?;
    let rows: Vec<(String, String, i64, Option<String>, i64)> = stmt
        .query_map(params![invoice], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let invoice = InvoiceId::new(invoice)?;
    rows.into_iter()
        .map(|(id, amount, paid, reference, recorded)| {
            Ok(Payment {
                id: PaymentId::new(id)?,
                invoice: invoice.clone(),
                amount: amount.parse().map_err(|e| LedgerError::Rule(format!("stored payment amount: {e}")))?,
                paid_at: Timestamp::from_nanos(paid),
                reference,
                recorded_at: Timestamp::from_nanos(recorded),
            })
        })
        .collect()
}
