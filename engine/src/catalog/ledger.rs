//! The invoicing ledger's rules, written once for every backend.
//!
//! A backend (SQLite, PostgreSQL) implements [`Transactions`]: it opens a read or a write
//! transaction whose [`LedgerTx`] primitives each run one statement. Everything that decides —
//! which draft a billing run creates, rebuilds, keeps or discards; when an invoice may be
//! finalized and which number it takes; credit notes, payments, the audit chain — is here, in
//! the blanket implementation of [`Ledger`], so the two backends cannot drift apart.
//!
//! A write transaction is exclusive among writers (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a
//! transaction-scoped advisory lock taken first), so a number is never allocated without its
//! invoice (gapless), the audit chain has one tail, and no change happens unaudited. The databases
//! also refuse, by trigger, any edit of an issued invoice, credit note, payment or audit entry
//! made from outside colometer.

use rust_decimal::Decimal;

use super::LedgerError;
use super::writes::CatalogTx;
use crate::domain::{Currency, Money};
use crate::id::{BillingRunId, CreditNoteId, CustomerId, InvoiceId, PaymentId};
use crate::invoicing::audit::{self, Entry, GENESIS};
use crate::invoicing::credit_note::{self, CreditNote, NoteHead};
use crate::invoicing::document;
use crate::invoicing::invoice::{Draft, Issued, Rated, Status, number};
use crate::invoicing::record::{BillingRun, InvoiceFilter, InvoiceView, LineEvidence, Payment};
use crate::invoicing::run::numbering_year;
use crate::period::BillingPeriod;
use crate::time::Timestamp;

type Result<T> = std::result::Result<T, LedgerError>;

/// One stored invoice as a backend reads it.
#[derive(Debug, Clone)]
pub struct InvoiceRow {
    /// Its ID.
    pub id: String,
    /// Its state.
    pub status: Status,
    /// The content (JSON, byte-stable).
    pub body: String,
    /// The lines' evidence (a JSON array).
    pub evidence: String,
    /// When it was sent.
    pub sent_at: Option<Timestamp>,
    /// When it was paid in full.
    pub paid_at: Option<Timestamp>,
    /// When it was voided.
    pub voided_at: Option<Timestamp>,
}

/// One of a customer's invoices for a period, as a billing run sees it.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Its ID.
    pub id: String,
    /// Its state.
    pub status: Status,
    /// 1, then 2 … after a void.
    pub attempt: i64,
}

/// The states an issued invoice moves on to after `finalized`, each with the column that records
/// when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Sent to the customer (`sent_ns`).
    Sent,
    /// Paid in full (`paid_ns`).
    Paid,
    /// Voided by a credit note (`voided_ns`).
    Void,
}

impl Settled {
    /// The status it stands for.
    pub fn status(self) -> Status {
        match self {
            Settled::Sent => Status::Sent,
            Settled::Paid => Status::Paid,
            Settled::Void => Status::Void,
        }
    }
}

/// The statements a backend runs inside one transaction. Each maps its database's failures to
/// [`LedgerError`]; none decides anything.
pub trait LedgerTx {
    /// One invoice.
    fn invoice_row(&mut self, id: &str) -> Result<Option<InvoiceRow>>;
    /// Invoices by ID after the filter's cursor, at most `limit`.
    fn invoice_rows(&mut self, filter: &InvoiceFilter, limit: usize) -> Result<Vec<InvoiceRow>>;
    /// How many invoices are in each status.
    fn status_counts(&mut self) -> Result<Vec<(String, u64)>>;
    /// A customer's invoices for a period, by attempt.
    fn period_attempts(&mut self, customer: &str, period: &str) -> Result<Vec<Attempt>>;
    /// Customers with a draft for the period.
    fn draft_customers(&mut self, period: &str) -> Result<Vec<String>>;
    /// Whether the stored draft has exactly this body and evidence (compared in the database).
    fn draft_is(&mut self, id: &str, body: &str, evidence: &str) -> Result<bool>;
    /// Stores a new draft.
    fn insert_draft(
        &mut self,
        id: &str,
        customer: &str,
        period: &str,
        attempt: i64,
        body: &str,
        evidence: &str,
    ) -> Result<()>;
    /// Replaces a draft's content.
    fn replace_draft(&mut self, id: &str, body: &str, evidence: &str) -> Result<()>;
    /// Deletes a draft.
    fn delete_draft(&mut self, id: &str) -> Result<()>;
    /// How many runs the period has had.
    fn run_count(&mut self, period: &str) -> Result<i64>;
    /// Stores a run.
    fn insert_run(&mut self, run: &BillingRun, body: &str) -> Result<()>;
    /// Every run's stored body, newest first.
    fn run_bodies(&mut self) -> Result<Vec<String>>;
    /// The next number of a series (`invoice`, `credit_note`) in a year; the counter row stays
    /// locked until the transaction ends.
    fn next_number(&mut self, series: &str, year: i32) -> Result<i64>;
    /// Finalizes a draft with its number and issued body.
    fn set_finalized(&mut self, id: &str, number: &str, body: &str, at: Timestamp) -> Result<()>;
    /// Moves an issued invoice to `sent`, `paid` or `void` at `at`.
    fn set_status(&mut self, id: &str, to: Settled, at: Timestamp) -> Result<()>;
    /// An invoice's credit notes' bodies, in issue order.
    fn note_bodies(&mut self, invoice: &str) -> Result<Vec<String>>;
    /// One credit note's body.
    fn note_body(&mut self, id: &str) -> Result<Option<String>>;
    /// Stores a credit note.
    fn insert_note(&mut self, note: &CreditNote, body: &str) -> Result<()>;
    /// An invoice's payments, in recording order.
    fn payments(&mut self, invoice: &InvoiceId) -> Result<Vec<Payment>>;
    /// How many payments exist.
    fn payment_count(&mut self) -> Result<i64>;
    /// Stores a payment.
    fn insert_payment(&mut self, p: &Payment) -> Result<()>;
    /// The audit log's last entry's position and hash.
    fn audit_tail(&mut self) -> Result<Option<(i64, [u8; 32])>>;
    /// Appends an entry.
    fn insert_audit(&mut self, e: &Entry) -> Result<()>;
    /// The whole audit log, in order.
    fn audit_entries(&mut self) -> Result<Vec<Entry>>;
    /// Commits; dropping the transaction without this rolls it back.
    fn commit(self) -> Result<()>;
}

/// A backend's transactions, for the ledger's rules here and the catalog's
/// ([`super::writes`]).
pub trait Transactions {
    /// Its transaction.
    type Tx<'a>: CatalogTx
    where
        Self: 'a;
    /// A write transaction, exclusive among writers (in every process).
    fn write(&mut self) -> Result<Self::Tx<'_>>;
    /// A read transaction: one consistent snapshot.
    fn read(&self) -> Result<Self::Tx<'_>>;
}

/// The ledger's operations (implemented for every [`Transactions`]).
pub trait Ledger {
    /// Stores a billing run's results for `period`, in one transaction: per customer, a draft is
    /// created or rebuilt (same ID), an issued invoice is kept untouched, a draft for a customer
    /// with nothing to bill any more is discarded. `considered` is every customer the run looked
    /// at; `rated` holds those with lines.
    fn apply_billing_run(
        &mut self,
        period: BillingPeriod,
        considered: &[CustomerId],
        rated: Vec<Rated>,
        actor: &str,
        at: Timestamp,
    ) -> Result<BillingRun>;
    /// Past billing runs, newest first.
    fn billing_runs(&self) -> Result<Vec<BillingRun>>;
    /// One invoice.
    fn invoice(&self, id: &InvoiceId) -> Result<InvoiceView>;
    /// How many invoices are in each status (`draft`, `finalized`, …), by status name.
    fn invoice_counts(&self) -> Result<Vec<(String, u64)>>;
    /// Invoices by ID, filtered, at most `limit` after the cursor; the next cursor if more exist.
    fn invoices(&self, f: &InvoiceFilter) -> Result<(Vec<InvoiceView>, Option<String>)>;
    /// The evidence of line `n` of an invoice.
    fn line_evidence(&self, id: &InvoiceId, n: u32) -> Result<LineEvidence>;
    /// Finalizes a draft whose period has ended by `at` (else `Rule`): the next gapless number of
    /// the year `at` falls in, then immutable.
    fn finalize_invoice(&mut self, id: &InvoiceId, actor: &str, at: Timestamp) -> Result<InvoiceView>;
    /// Marks a finalized invoice as sent.
    fn send_invoice(&mut self, id: &InvoiceId, actor: &str, at: Timestamp) -> Result<InvoiceView>;
    /// Voids an issued, unpaid invoice through a credit note for everything left of it.
    fn void_invoice(&mut self, id: &InvoiceId, reason: String, actor: &str, at: Timestamp) -> Result<CreditNote>;
    /// A partial credit note (a dispute) against an issued invoice.
    fn credit_invoice(
        &mut self,
        id: &InvoiceId,
        amounts: &[(u32, Decimal)],
        reason: String,
        actor: &str,
        at: Timestamp,
    ) -> Result<CreditNote>;
    /// Records a payment; the invoice is paid when nothing is left to pay.
    fn record_payment(
        &mut self,
        id: &InvoiceId,
        amount: Decimal,
        paid_at: Timestamp,
        reference: Option<String>,
        actor: &str,
        at: Timestamp,
    ) -> Result<Payment>;
    /// One credit note.
    fn credit_note(&self, id: &CreditNoteId) -> Result<CreditNote>;
    /// The whole audit log, in order.
    fn audit_log(&self) -> Result<Vec<Entry>>;
    /// Appends an audit entry for a change made elsewhere.
    fn audit(&mut self, at: Timestamp, actor: &str, action: &str, object: &str, detail: &str) -> Result<()>;
}

/// Appends one audit entry inside `tx`, chained to the log's tail.
pub fn append_audit<T: LedgerTx + ?Sized>(
    tx: &mut T,
    at: Timestamp,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
) -> Result<()> {
    let (seq, prev_hash) = match tx.audit_tail()? {
        Some((seq, h)) => (seq + 1, h),
        None => (1, GENESIS),
    };
    let hash = audit::hash(&prev_hash, seq, at, actor, action, object, detail);
    tx.insert_audit(&Entry {
        seq,
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        object: object.to_owned(),
        detail: detail.to_owned(),
        prev_hash,
        hash,
    })
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

fn load<T: LedgerTx>(tx: &mut T, id: &str) -> Result<InvoiceRow> {
    tx.invoice_row(id)?.ok_or(LedgerError::NotFound)
}

fn notes_of<T: LedgerTx>(tx: &mut T, invoice: &str) -> Result<Vec<CreditNote>> {
    tx.note_bodies(invoice)?.iter().map(|b| document::read_credit_note(b).map_err(LedgerError::from)).collect()
}

fn view<T: LedgerTx>(tx: &mut T, row: InvoiceRow) -> Result<InvoiceView> {
    let body = document::read_invoice(&row.body)?;
    let notes = notes_of(tx, &row.id)?;
    let payments = tx.payments(&body.id)?;
    let cur = body.currency;
    let (credited, paid) = (credited(&notes, cur)?.round(), paid(&payments, cur)?.round());
    let balance = match row.status {
        Status::Draft => Money::zero(cur),
        _ => body.total.checked_sub(credited)?.checked_sub(paid)?.round(),
    };
    Ok(InvoiceView {
        body,
        status: row.status,
        sent_at: row.sent_at,
        paid_at: row.paid_at,
        voided_at: row.voided_at,
        credit_notes: notes.into_iter().map(|c| c.id).collect(),
        credited,
        paid,
        balance,
        payments,
    })
}

/// The credit notes' totals, in the invoice's currency.
fn credited(notes: &[CreditNote], currency: Currency) -> Result<Money> {
    Ok(Money::sum(currency, notes.iter().map(|c| c.total))?)
}

/// The payments, in the invoice's currency: a payment is recorded as an amount of the invoice it
/// pays, so it takes that invoice's currency.
fn paid(payments: &[Payment], currency: Currency) -> Result<Money> {
    Ok(Money::sum(currency, payments.iter().map(|p| Money::new(p.amount, currency)))?)
}

fn issued<T: LedgerTx>(tx: &mut T, id: &str, allowed: &[Status], what: &str) -> Result<Issued> {
    let row = load(tx, id)?;
    if !allowed.contains(&row.status) {
        return Err(LedgerError::Conflict(format!("invoice {id} is {}; {what}", row.status.as_str())));
    }
    Ok(Issued::from_body(document::read_invoice(&row.body)?))
}

fn note_head<T: LedgerTx>(tx: &mut T, reason: String, at: Timestamp) -> Result<NoteHead> {
    let year = numbering_year(at);
    let seq = tx.next_number("credit_note", year)?;
    let number = number("CN-", year, seq);
    let id = CreditNoteId::new(number.to_lowercase())?;
    Ok(NoteHead { id, number, reason, at })
}

fn insert_note<T: LedgerTx>(tx: &mut T, note: &CreditNote, actor: &str) -> Result<()> {
    tx.insert_note(note, &document::write_credit_note(note)?)?;
    let detail =
        serde_json::json!({"number": note.number, "total": note.total, "reason": note.reason, "voids": note.voids});
    append_audit(tx, note.issued_at, actor, "credit_note.issue", note.invoice.as_str(), &detail.to_string())
}

/// What a billing run did for one customer.
enum Outcome {
    Kept(InvoiceId),
    Unchanged(InvoiceId),
    Rebuilt(InvoiceId),
    Created(InvoiceId),
    Discarded(InvoiceId),
    Nothing,
}

fn bill_customer<T: LedgerTx>(
    tx: &mut T,
    customer: &CustomerId,
    period: &str,
    rated: Option<Rated>,
) -> Result<Outcome> {
    let existing = tx.period_attempts(customer.as_str(), period)?;
    if let Some(a) = existing.iter().find(|a| matches!(a.status, Status::Finalized | Status::Sent | Status::Paid)) {
        return Ok(Outcome::Kept(InvoiceId::new(a.id.clone())?));
    }
    let draft = existing.iter().find(|a| a.status == Status::Draft);
    Ok(match (rated, draft) {
        (Some(r), Some(a)) => {
            let id = InvoiceId::new(a.id.clone())?;
            let d = Draft::new(id.clone(), r)?;
            let body = document::write_invoice(d.body())?;
            // Compared inside the database: the stored documents are not copied out. A draft
            // stored in an older document version differs in bytes only: it is rewritten in the
            // current version and still reported unchanged.
            if tx.draft_is(id.as_str(), &body, d.evidence_json())? {
                Outcome::Unchanged(id)
            } else {
                let stored = load(tx, id.as_str())?;
                let same = stored.evidence == d.evidence_json() && document::read_invoice(&stored.body)? == *d.body();
                tx.replace_draft(id.as_str(), &body, d.evidence_json())?;
                if same { Outcome::Unchanged(id) } else { Outcome::Rebuilt(id) }
            }
        }
        (Some(r), None) => {
            let attempt = existing.iter().map(|a| a.attempt).max().unwrap_or(0) + 1;
            let id = invoice_id(customer, period, attempt)?;
            let d = Draft::new(id.clone(), r)?;
            let body = document::write_invoice(d.body())?;
            tx.insert_draft(id.as_str(), customer.as_str(), period, attempt, &body, d.evidence_json())?;
            Outcome::Created(id)
        }
        (None, Some(a)) => {
            tx.delete_draft(&a.id)?;
            Outcome::Discarded(InvoiceId::new(a.id.clone())?)
        }
        (None, None) => Outcome::Nothing,
    })
}

impl<B: Transactions> Ledger for B {
    fn apply_billing_run(
        &mut self,
        billing_period: BillingPeriod,
        considered: &[CustomerId],
        rated: Vec<Rated>,
        actor: &str,
        at: Timestamp,
    ) -> Result<BillingRun> {
        let period = &*billing_period.to_string();
        let mut tx = self.write()?;
        let runs = tx.run_count(period)?;
        let mut run = BillingRun {
            id: BillingRunId::new(format!("run-{period}-{}", runs + 1))?,
            period: billing_period,
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
        customers.extend(tx.draft_customers(period)?.into_iter().filter_map(|c| CustomerId::new(c).ok()));
        customers.extend(rated.keys().cloned());
        customers.sort();
        customers.dedup();
        for customer in customers {
            let r = rated.remove(&customer);
            let (list, id) = match bill_customer(&mut tx, &customer, period, r)? {
                Outcome::Kept(id) => (&mut run.kept, id),
                Outcome::Unchanged(id) => (&mut run.unchanged, id),
                Outcome::Rebuilt(id) => (&mut run.rebuilt, id),
                Outcome::Created(id) => (&mut run.created, id),
                Outcome::Discarded(id) => {
                    run.discarded.push(id);
                    continue;
                }
                Outcome::Nothing => continue,
            };
            list.push(id.clone());
            run.invoices.push(id);
        }
        tx.insert_run(&run, &serde_json::to_string(&run)?)?;
        let detail = serde_json::json!({
            "created": run.created, "rebuilt": run.rebuilt, "unchanged": run.unchanged.len(),
            "kept": run.kept, "discarded": run.discarded,
        });
        append_audit(&mut tx, at, actor, "billing_run", run.id.as_str(), &detail.to_string())?;
        tx.commit()?;
        Ok(run)
    }

    fn billing_runs(&self) -> Result<Vec<BillingRun>> {
        let bodies = self.read()?.run_bodies()?;
        bodies.iter().map(|b| serde_json::from_str(b).map_err(LedgerError::from)).collect()
    }

    fn invoice(&self, typed_id: &InvoiceId) -> Result<InvoiceView> {
        let id = typed_id.as_str();
        let mut tx = self.read()?;
        let row = load(&mut tx, id)?;
        view(&mut tx, row)
    }

    fn invoice_counts(&self) -> Result<Vec<(String, u64)>> {
        self.read()?.status_counts()
    }

    fn invoices(&self, f: &InvoiceFilter) -> Result<(Vec<InvoiceView>, Option<String>)> {
        let limit = f.limit.clamp(1, 1000);
        let mut tx = self.read()?;
        let rows = tx.invoice_rows(f, limit + 1)?;
        let more = rows.len() > limit;
        let mut out = Vec::with_capacity(limit);
        for row in rows.into_iter().take(limit) {
            out.push(view(&mut tx, row)?);
        }
        let next = if more { out.last().map(|v| v.body.id.to_string()) } else { None };
        Ok((out, next))
    }

    fn line_evidence(&self, typed_id: &InvoiceId, n: u32) -> Result<LineEvidence> {
        let id = typed_id.as_str();
        let row = load(&mut self.read()?, id)?;
        let body = document::read_invoice(&row.body)?;
        let mut evidence: Vec<serde_json::Value> = serde_json::from_str(&row.evidence)?;
        let line = body.lines.iter().find(|l| l.n == n).cloned().ok_or(LedgerError::NotFound)?;
        let i = (n as usize).checked_sub(1).filter(|i| *i < evidence.len()).ok_or(LedgerError::NotFound)?;
        Ok(LineEvidence { invoice: body.id, line, evidence: evidence.swap_remove(i) })
    }

    fn finalize_invoice(&mut self, typed_id: &InvoiceId, actor: &str, at: Timestamp) -> Result<InvoiceView> {
        let id = typed_id.as_str();
        let mut tx = self.write()?;
        let row = load(&mut tx, id)?;
        if row.status != Status::Draft {
            return Err(LedgerError::Conflict(format!(
                "invoice {id} is {}: an issued invoice never changes",
                row.status.as_str()
            )));
        }
        let draft = Draft::from_parts(document::read_invoice(&row.body)?, row.evidence);
        let b = draft.body();
        if b.to > at {
            return Err(LedgerError::Rule(format!(
                "period {} ends at {}: an invoice is finalized once its period has ended",
                b.period, b.to
            )));
        }
        let year = numbering_year(at);
        let seq = tx.next_number("invoice", year)?;
        let issued: Issued = draft.finalize(number("", year, seq), at);
        let number = issued.body().number.clone().unwrap_or_default();
        tx.set_finalized(id, &number, &document::write_invoice(issued.body())?, at)?;
        let detail = serde_json::json!({"number": number, "total": issued.body().total});
        append_audit(&mut tx, at, actor, "invoice.finalize", id, &detail.to_string())?;
        let row = load(&mut tx, id)?;
        let v = view(&mut tx, row)?;
        tx.commit()?;
        Ok(v)
    }

    fn send_invoice(&mut self, typed_id: &InvoiceId, actor: &str, at: Timestamp) -> Result<InvoiceView> {
        let id = typed_id.as_str();
        let mut tx = self.write()?;
        let row = load(&mut tx, id)?;
        if row.status != Status::Finalized {
            return Err(LedgerError::Conflict(format!(
                "invoice {id} is {}; only a finalized invoice is sent",
                row.status.as_str()
            )));
        }
        tx.set_status(id, Settled::Sent, at)?;
        append_audit(&mut tx, at, actor, "invoice.send", id, "{}")?;
        let row = load(&mut tx, id)?;
        let v = view(&mut tx, row)?;
        tx.commit()?;
        Ok(v)
    }

    fn void_invoice(&mut self, typed_id: &InvoiceId, reason: String, actor: &str, at: Timestamp) -> Result<CreditNote> {
        let id = typed_id.as_str();
        let mut tx = self.write()?;
        let what = "only a finalized or sent invoice is voided (a draft is rebuilt, a paid one credited)";
        let issued = issued(&mut tx, id, &[Status::Finalized, Status::Sent], what)?;
        let prior = notes_of(&mut tx, id)?;
        let head = note_head(&mut tx, reason, at)?;
        let note = credit_note::voiding(&issued, &prior, head)?;
        insert_note(&mut tx, &note, actor)?;
        tx.set_status(id, Settled::Void, at)?;
        let detail = serde_json::json!({"credit_note": note.number}).to_string();
        append_audit(&mut tx, at, actor, "invoice.void", id, &detail)?;
        tx.commit()?;
        Ok(note)
    }

    fn credit_invoice(
        &mut self,
        typed_id: &InvoiceId,
        amounts: &[(u32, Decimal)],
        reason: String,
        actor: &str,
        at: Timestamp,
    ) -> Result<CreditNote> {
        let id = typed_id.as_str();
        let mut tx = self.write()?;
        let what = "only an issued invoice is credited";
        let issued = issued(&mut tx, id, &[Status::Finalized, Status::Sent, Status::Paid], what)?;
        let prior = notes_of(&mut tx, id)?;
        let head = note_head(&mut tx, reason, at)?;
        let note = credit_note::partial(&issued, &prior, amounts, head)?;
        insert_note(&mut tx, &note, actor)?;
        tx.commit()?;
        Ok(note)
    }

    fn record_payment(
        &mut self,
        typed_id: &InvoiceId,
        amount: Decimal,
        paid_at: Timestamp,
        reference: Option<String>,
        actor: &str,
        at: Timestamp,
    ) -> Result<Payment> {
        let id = typed_id.as_str();
        let mut tx = self.write()?;
        let what = "payments are recorded against finalized or sent invoices";
        let issued = issued(&mut tx, id, &[Status::Finalized, Status::Sent], what)?;
        let cur = issued.body().currency;
        if amount <= Decimal::ZERO || !Money::new(amount, cur).in_minor_units() {
            return Err(LedgerError::Rule(format!(
                "a payment must be positive, in whole minor units of {cur}: {amount}"
            )));
        }
        let invoice = InvoiceId::new(id)?;
        let credited = credited(&notes_of(&mut tx, id)?, cur)?;
        let paid = paid(&tx.payments(&invoice)?, cur)?;
        let balance = issued.body().total.checked_sub(credited)?.checked_sub(paid)?.amount();
        if amount > balance {
            return Err(LedgerError::Rule(format!("payment {amount} exceeds the balance {balance}")));
        }
        let pid = PaymentId::new(format!("pay-{}", tx.payment_count()? + 1))?;
        let payment = Payment { id: pid, invoice, amount, paid_at, reference, recorded_at: at };
        tx.insert_payment(&payment)?;
        if amount == balance {
            tx.set_status(id, Settled::Paid, at)?;
        }
        let detail = serde_json::json!({"payment": payment.id, "amount": amount, "reference": payment.reference});
        append_audit(&mut tx, at, actor, "invoice.payment", id, &detail.to_string())?;
        tx.commit()?;
        Ok(payment)
    }

    fn credit_note(&self, typed_id: &CreditNoteId) -> Result<CreditNote> {
        let id = typed_id.as_str();
        let body = self.read()?.note_body(id)?.ok_or(LedgerError::NotFound)?;
        Ok(document::read_credit_note(&body)?)
    }

    fn audit_log(&self) -> Result<Vec<Entry>> {
        self.read()?.audit_entries()
    }

    fn audit(&mut self, at: Timestamp, actor: &str, action: &str, object: &str, detail: &str) -> Result<()> {
        let mut tx = self.write()?;
        append_audit(&mut tx, at, actor, action, object, detail)?;
        tx.commit()
    }
}
