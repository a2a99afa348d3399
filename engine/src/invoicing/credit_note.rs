//! Credit notes: the only way an issued invoice's amounts change. A partial note credits chosen
//! amounts of chosen lines (a dispute); a voiding note credits whatever is left of every line and
//! of the tax, so invoice minus its notes is exactly zero.
//!
//! Reading where the spec is silent: a partial note's tax is its own subtotal × the invoice's tax
//! rate, rounded once; the voiding note takes the invoice's tax minus the tax already credited,
//! so rounding never leaves a cent behind.

use rust_decimal::Decimal;
use serde::Serialize;

use super::invoice::{Issued, totals};
use crate::domain::{CurrencyMismatch, Money};
use crate::id::{CreditNoteId, CustomerId, InvoiceId};
use crate::time::Timestamp;

/// One credited line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditLine {
    /// The invoice line credited.
    pub line: u32,
    /// Its description.
    pub description: String,
    /// Amount credited (positive reduces what the customer owes).
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub amount: Money,
}

// Read back only through its stored document (`super::document`): no `Deserialize` here.
/// A credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditNote {
    /// Its ID.
    pub id: CreditNoteId,
    /// Gapless per year, its own series (`CN-2026-000001`).
    pub number: String,
    /// The invoice it credits.
    pub invoice: InvoiceId,
    /// That invoice's number.
    pub invoice_number: String,
    /// The customer.
    pub customer: CustomerId,
    /// Currency.
    pub currency: crate::domain::Currency,
    /// Why.
    pub reason: String,
    /// Whether it voids the invoice.
    pub voids: bool,
    /// Credited lines.
    pub lines: Vec<CreditLine>,
    /// Sum of credited amounts.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub subtotal: Money,
    /// Tax credited.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub tax: Money,
    /// `subtotal + tax`.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub total: Money,
    /// When it was issued.
    pub issued_at: Timestamp,
}

/// Why a credit note cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    /// No lines asked for.
    #[error("a credit note needs at least one line")]
    Empty,
    /// The invoice has no such line.
    #[error("invoice has no line {0}")]
    UnknownLine(u32),
    /// The same line twice.
    #[error("line {0} is listed twice")]
    DuplicateLine(u32),
    /// Not a positive amount in the currency's minor unit.
    #[error("line {line}: the amount must be positive and in whole minor units, got {amount}")]
    BadAmount {
        /// The line.
        line: u32,
        /// The amount asked for.
        amount: Decimal,
    },
    /// More than is left of the line.
    #[error("line {line}: {amount} exceeds what is left to credit ({left})")]
    ExceedsLine {
        /// The line.
        line: u32,
        /// The amount asked for.
        amount: Decimal,
        /// What is left.
        left: Decimal,
    },
    /// Everything is credited already.
    #[error("nothing is left to credit on this invoice")]
    NothingLeft,
    /// A prior note is in another currency than the invoice (a corrupt ledger, never the
    /// caller's input).
    #[error(transparent)]
    Currency(#[from] CurrencyMismatch),
}

/// What a new note is: its identity and reason.
pub struct NoteHead {
    /// Its ID.
    pub id: CreditNoteId,
    /// Its number.
    pub number: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// What is left to credit of line `n`: `None` when the invoice has no such line.
fn left_of(invoice: &Issued, prior: &[CreditNote], n: u32) -> Result<Option<Money>, CurrencyMismatch> {
    let b = invoice.body();
    let Some(line) = b.lines.iter().find(|l| l.n == n) else { return Ok(None) };
    let credited = prior.iter().flat_map(|c| &c.lines).filter(|c| c.line == n).map(|c| c.amount);
    Ok(Some(line.amount.checked_sub(Money::sum(b.currency, credited)?)?))
}

fn note(
    invoice: &Issued,
    head: NoteHead,
    lines: Vec<CreditLine>,
    tax: Money,
    voids: bool,
) -> Result<CreditNote, CurrencyMismatch> {
    let b = invoice.body();
    let subtotal = Money::sum(b.currency, lines.iter().map(|l| l.amount))?;
    Ok(CreditNote {
        id: head.id,
        number: head.number,
        invoice: b.id.clone(),
        invoice_number: b.number.clone().unwrap_or_default(),
        customer: b.customer.clone(),
        currency: b.currency,
        reason: head.reason,
        voids,
        lines,
        subtotal,
        tax,
        total: subtotal.checked_add(tax)?,
        issued_at: head.at,
    })
}

/// A partial credit note for `amounts` (line, amount) of an issued invoice.
pub fn partial(
    invoice: &Issued,
    prior: &[CreditNote],
    amounts: &[(u32, Decimal)],
    head: NoteHead,
) -> Result<CreditNote, CreditError> {
    if amounts.is_empty() {
        return Err(CreditError::Empty);
    }
    let b = invoice.body();
    let mut lines = Vec::with_capacity(amounts.len());
    for (i, &(n, amount)) in amounts.iter().enumerate() {
        if amounts[..i].iter().any(|(m, _)| *m == n) {
            return Err(CreditError::DuplicateLine(n));
        }
        let left = left_of(invoice, prior, n)?.ok_or(CreditError::UnknownLine(n))?;
        let credited = Money::new(amount, b.currency);
        if amount <= Decimal::ZERO || !credited.in_minor_units() {
            return Err(CreditError::BadAmount { line: n, amount });
        }
        if credited.exceeds(&left)? {
            return Err(CreditError::ExceedsLine { line: n, amount, left: left.amount() });
        }
        let description = b.lines.iter().find(|l| l.n == n).map(|l| l.description.clone()).unwrap_or_default();
        lines.push(CreditLine { line: n, description, amount: credited });
    }
    let (_, tax, _) = totals(lines.iter().map(|l| l.amount), b.tax_rate, b.currency)?;
    Ok(note(invoice, head, lines, tax, false)?)
}

/// The note that voids an issued invoice: everything left of every line and of the tax.
pub fn voiding(invoice: &Issued, prior: &[CreditNote], head: NoteHead) -> Result<CreditNote, CreditError> {
    let b = invoice.body();
    let mut lines = Vec::new();
    for l in &b.lines {
        match left_of(invoice, prior, l.n)? {
            Some(left) if !left.is_zero() => {
                lines.push(CreditLine { line: l.n, description: l.description.clone(), amount: left })
            }
            _ => {}
        }
    }
    let tax = b.tax.checked_sub(Money::sum(b.currency, prior.iter().map(|c| c.tax))?)?;
    if lines.is_empty() && tax.is_zero() && !prior.is_empty() {
        return Err(CreditError::NothingLeft);
    }
    Ok(note(invoice, head, lines, tax, true)?)
}
