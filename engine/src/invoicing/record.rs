//! What the ledger keeps beside each invoice, and the objects it answers with.

use rust_decimal::Decimal;
use serde::Serialize;

use super::invoice::{Body, Status};
use crate::domain::Money;
use crate::id::{BillingRunId, CreditNoteId, InvoiceId, PaymentId};
use crate::period::BillingPeriod;
use crate::time::Timestamp;

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// Its ID.
    pub id: PaymentId,
    /// The invoice paid.
    pub invoice: InvoiceId,
    /// Amount.
    pub amount: Decimal,
    /// When the money arrived.
    pub paid_at: Timestamp,
    /// Bank or remittance reference.
    pub reference: Option<String>,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

/// The invoice object of `contract.md`: the content plus its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceView {
    /// The content (`id`, `number`, `customer`, `period`, `currency`, `lines`, totals …).
    #[serde(flatten)]
    pub body: Body,
    /// Lifecycle state.
    pub status: Status,
    /// When it was sent.
    pub sent_at: Option<Timestamp>,
    /// When it was paid in full.
    pub paid_at: Option<Timestamp>,
    /// When it was voided.
    pub voided_at: Option<Timestamp>,
    /// Its credit notes.
    pub credit_notes: Vec<CreditNoteId>,
    /// Sum of its credit notes' totals.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub credited: Money,
    /// Sum of its payments.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub paid: Money,
    /// `total − credited − paid` (nothing is owed on a draft: 0).
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub balance: Money,
    /// Its payments.
    pub payments: Vec<Payment>,
}

/// One billing run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingRun {
    /// Its ID.
    pub id: BillingRunId,
    /// The month billed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-10"))]
    pub period: BillingPeriod,
    /// When it ran.
    pub at: Timestamp,
    /// Who ran it.
    pub actor: String,
    /// The period's current invoices: drafts built or rebuilt, and issued ones kept.
    pub invoices: Vec<InvoiceId>,
    /// Drafts created.
    pub created: Vec<InvoiceId>,
    /// Drafts rebuilt with different content.
    pub rebuilt: Vec<InvoiceId>,
    /// Drafts whose content did not change.
    pub unchanged: Vec<InvoiceId>,
    /// Issued invoices left as they are.
    pub kept: Vec<InvoiceId>,
    /// Drafts discarded (nothing bills any more).
    pub discarded: Vec<InvoiceId>,
}

/// Filters of the invoice list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// One customer's.
    pub customer: Option<String>,
    /// One period's.
    pub period: Option<BillingPeriod>,
    /// One state's.
    pub status: Option<Status>,
    /// IDs after this one (the cursor).
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// The evidence of one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineEvidence {
    /// The invoice.
    pub invoice: InvoiceId,
    /// The line.
    pub line: crate::rating::line::Line,
    /// What it was computed from.
    pub evidence: serde_json::Value,
}
