//! Credit notes: the only way an issued invoice's amounts change. A partial note credits chosen
//! amounts of chosen lines (a dispute); a voiding note credits whatever is left of every line and
//! of the tax, so invoice minus its notes is exactly zero.
//!
//! Reading where the spec is silent: a partial note's tax is its own subtotal × the invoice's tax
//! rate, rounded once; the voiding note takes the invoice's tax minus the tax already credited,
//! so rounding never leaves a cent behind.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::invoice::{Issued, totals};
use crate::id::{CreditNoteId, CustomerId, InvoiceId};
use crate::rating::money::round_to_minor_unit;
use crate::time::Timestamp;

/// One credited line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditLine {
    /// The invoice line credited.
    pub line: u32,
    /// Its description.
    pub description: String,
    /// Amount credited (positive reduces what the customer owes).
    pub amount: Decimal,
}

/// A credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub subtotal: Decimal,
    /// Tax credited.
    pub tax: Decimal,
    /// `subtotal + tax`.
    pub total: Decimal,
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

fn left_of(invoice: &Issued, prior: &[CreditNote], n: u32) -> Option<Decimal> {
    let line = invoice.body().lines.iter().find(|l| l.n == n)?;
    let credited: Decimal = prior.iter().flat_map(|c| &c.lines).filter(|c| c.line == n).map(|c| c.amount).sum();
    Some(line.amount - credited)
}

fn note(invoice: &Issued, head: NoteHead, lines: Vec<CreditLine>, tax: Decimal, voids: bool) -> CreditNote {
    let b = invoice.body();
    let subtotal: Decimal = lines.iter().map(|l| l.amount).sum();
    CreditNote {
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
        total: subtotal + tax,
        issued_at: head.at,
    }
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
        let left = left_of(invoice, prior, n).ok_or(CreditError::UnknownLine(n))?;
        if amount <= Decimal::ZERO || round_to_minor_unit(amount, b.currency) != amount {
            return Err(CreditError::BadAmount { line: n, amount });
        }
        if amount > left {
            return Err(CreditError::ExceedsLine { line: n, amount, left });
        }
        let description = b.lines.iter().find(|l| l.n == n).map(|l| l.description.clone()).unwrap_or_default();
        lines.push(CreditLine { line: n, description, amount });
    }
    let (_, tax, _) = totals(lines.iter().map(|l| l.amount), b.tax_rate, b.currency);
    Ok(note(invoice, head, lines, tax, false))
}

/// The note that voids an issued invoice: everything left of every line and of the tax.
pub fn voiding(invoice: &Issued, prior: &[CreditNote], head: NoteHead) -> Result<CreditNote, CreditError> {
    let b = invoice.body();
    let lines: Vec<CreditLine> = b
        .lines
        .iter()
        .filter_map(|l| {
            let left = left_of(invoice, prior, l.n)?;
            (!left.is_zero()).then(|| CreditLine { line: l.n, description: l.description.clone(), amount: left })
        })
        .collect();
    let tax = b.tax - prior.iter().map(|c| c.tax).sum::<Decimal>();
    if lines.is_empty() && tax.is_zero() && !prior.is_empty() {
        return Err(CreditError::NothingLeft);
    }
    Ok(note(invoice, head, lines, tax, true))
}
