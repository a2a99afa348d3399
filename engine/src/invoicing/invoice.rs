//! Invoices. A [`Draft`] is what rating produced and may be rebuilt by the next run; finalizing
//! it consumes it and yields an [`Issued`] invoice, which has a number and no mutators at all:
//! what happens to it afterwards (sent, paid, credited, voided) is recorded beside it, never in it.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::domain::{Currency, CurrencyMismatch, Money};
use crate::id::{CustomerId, InvoiceId};
use crate::period::BillingPeriod;
use crate::rating::line::{Line, RatedLine};
use crate::time::Timestamp;

/// Lifecycle states (`contract.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Rebuilt by every billing run of its period.
    Draft,
    /// Numbered and immutable.
    Finalized,
    /// Sent to the customer.
    Sent,
    /// Paid in full.
    Paid,
    /// Cancelled by a credit note.
    Void,
}

impl Status {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Finalized => "finalized",
            Status::Sent => "sent",
            Status::Paid => "paid",
            Status::Void => "void",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [Status::Draft, Status::Finalized, Status::Sent, Status::Paid, Status::Void]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Energy and carbon of one resource on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceFootprint {
    /// `pdu/index`.
    pub resource: String,
    /// The service it served.
    pub service: String,
    /// Measured kWh (6 decimals).
    pub it_kwh: Decimal,
    /// Facility kWh (6 decimals).
    pub facility_kwh: Decimal,
    /// kgCO2e (6 decimals).
    pub kg_co2e: Decimal,
}

/// The invoice's sustainability statement: location-based, per resource and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sustainability {
    /// Measured kWh.
    pub it_kwh: Decimal,
    /// Facility kWh (IT × PUE hour by hour).
    pub facility_kwh: Decimal,
    /// kgCO2e.
    pub kg_co2e: Decimal,
    /// Per resource.
    pub resources: Vec<ResourceFootprint>,
}

/// Rounds a displayed quantity to 6 decimals (half away from zero).
pub fn six(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero).normalize()
}

/// What a billing run produced for one customer and period, before it has an ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rated {
    /// The customer.
    pub customer: CustomerId,
    /// Its name.
    pub customer_name: String,
    /// The month.
    pub period: BillingPeriod,
    /// Period start (the customer's timezone's first instant, UTC).
    pub from: Timestamp,
    /// Period end (exclusive).
    pub to: Timestamp,
    /// Invoice currency.
    pub currency: Currency,
    /// Tax rate.
    pub tax_rate: Decimal,
    /// The lines with their evidence.
    pub lines: Vec<RatedLine>,
    /// Energy and carbon.
    pub sustainability: Sustainability,
}

// Read back only through its stored document (`super::document`), which pairs every amount
// with the invoice's currency: no `Deserialize` here.
/// The content of an invoice: identical inputs give identical bytes (no run time inside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Body {
    /// The invoice's ID.
    pub id: InvoiceId,
    /// Gapless per year once finalized (`2026-000001`); `None` while a draft.
    pub number: Option<String>,
    /// The customer.
    pub customer: CustomerId,
    /// Its name.
    pub customer_name: String,
    /// The month, in the customer's timezone (`YYYY-MM`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-10"))]
    pub period: BillingPeriod,
    /// Period start.
    pub from: Timestamp,
    /// Period end (exclusive).
    pub to: Timestamp,
    /// Currency.
    pub currency: Currency,
    /// Tax rate applied to the subtotal.
    pub tax_rate: Decimal,
    /// The lines, numbered from 1.
    pub lines: Vec<Line>,
    /// Sum of line amounts.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub subtotal: Money,
    /// `subtotal × tax_rate`, rounded once.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub tax: Money,
    /// `subtotal + tax`.
    #[cfg_attr(feature = "openapi", schema(value_type = Decimal))]
    pub total: Money,
    /// Energy and carbon.
    pub sustainability: Sustainability,
    /// When it was finalized.
    pub finalized_at: Option<Timestamp>,
}

/// `(subtotal, tax, total)` of amounts in `currency` under a tax rate (metering.md §8).
pub fn totals(
    amounts: impl Iterator<Item = Money>,
    tax_rate: Decimal,
    currency: Currency,
) -> Result<(Money, Money, Money), CurrencyMismatch> {
    let subtotal = Money::sum(currency, amounts)?.round();
    let tax = subtotal.times(tax_rate).round();
    Ok((subtotal, tax, subtotal.checked_add(tax)?))
}

/// Why a draft cannot be assembled.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// The evidence does not serialize.
    #[error("evidence: {0}")]
    Evidence(#[from] serde_json::Error),
    /// A line is not in the invoice's currency.
    #[error(transparent)]
    Currency(#[from] CurrencyMismatch),
}

/// A draft invoice: the body and its lines' evidence (a JSON array, one entry per line, as stored
/// and served). The evidence is serialized straight from the rating's typed evidence, once: no
/// intermediate JSON tree (which cost a billing run most of its ledger time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    body: Body,
    evidence: String,
}

impl Draft {
    /// Assembles a draft: lines numbered in order, totals computed.
    pub fn new(id: InvoiceId, rated: Rated) -> Result<Self, DraftError> {
        let mut lines = Vec::with_capacity(rated.lines.len());
        let mut evidence = Vec::with_capacity(rated.lines.len());
        for (i, r) in rated.lines.into_iter().enumerate() {
            let mut line = r.line;
            line.n = i as u32 + 1;
            evidence.push(r.evidence);
            lines.push(line);
        }
        let evidence = serde_json::to_string(&evidence)?;
        let (subtotal, tax, total) = totals(lines.iter().map(|l| l.amount), rated.tax_rate, rated.currency)?;
        let body = Body {
            id,
            number: None,
            customer: rated.customer,
            customer_name: rated.customer_name,
            period: rated.period,
            from: rated.from,
            to: rated.to,
            currency: rated.currency,
            tax_rate: rated.tax_rate.normalize(),
            lines,
            subtotal,
            tax,
            total,
            sustainability: rated.sustainability,
            finalized_at: None,
        };
        Ok(Self { body, evidence })
    }

    /// A stored draft (the ledger loads it): its body and its evidence array as stored.
    pub fn from_parts(body: Body, evidence: String) -> Self {
        Self { body, evidence }
    }

    /// The content.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The lines' evidence: a JSON array, one entry per line.
    pub fn evidence_json(&self) -> &str {
        &self.evidence
    }

    /// Finalizes: the number is assigned and the invoice can no longer change.
    pub fn finalize(self, number: String, at: Timestamp) -> Issued {
        let mut body = self.body;
        body.number = Some(number);
        body.finalized_at = Some(at);
        Issued { body }
    }
}

/// A finalized invoice. It has no mutators: corrections are credit notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    body: Body,
}

impl Issued {
    /// A stored issued invoice (the ledger loads it).
    pub fn from_body(body: Body) -> Self {
        Self { body }
    }

    /// The content.
    pub fn body(&self) -> &Body {
        &self.body
    }
}

/// The gapless number of the `seq`-th document of `year` in a series (`""` for invoices, `CN-`
/// for credit notes): `2026-000042`, `CN-2026-000003`.
pub fn number(prefix: &str, year: i32, seq: i64) -> String {
    format!("{prefix}{year:04}-{seq:06}")
}
