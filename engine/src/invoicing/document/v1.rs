//! Version 1 of the stored invoice and credit note, frozen. Its layout is what colometer wrote
//! from its first invoice until versioning (then without `schema_version`) and since (with it):
//! the members below, in this order. Never edit these types: a change is a new version.
//! Amounts are stored bare; reading pairs each with the record's `currency` ([`Money`]).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::DocumentError;
use crate::domain::{Currency, Money};
use crate::id::{CreditNoteId, CustomerId, IdError, InvoiceId};
use crate::invoicing::credit_note::{self, CreditLine as LiveCreditLine};
use crate::invoicing::invoice::{self, ResourceFootprint as LiveFootprint, Sustainability as LiveSustainability};
use crate::period::BillingPeriod;
use crate::rating::line::Line as LiveLine;
use crate::time::Timestamp;

const VERSION: u32 = 1;

/// A version-1 document read: its tag, when it has one, must say 1 (a tag that is not first is
/// not seen by the prefix check of [`super::version_of`]).
fn tagged_one(schema_version: Option<u32>) -> Result<(), DocumentError> {
    match schema_version {
        None | Some(VERSION) => Ok(()),
        Some(v) if v > VERSION => Err(DocumentError::Newer(v)),
        Some(v) => Err(DocumentError::Value { version: VERSION, message: format!("schema_version {v}") }),
    }
}

fn id<T>(r: Result<T, IdError>) -> Result<T, DocumentError> {
    r.map_err(|e| DocumentError::Value { version: VERSION, message: format!("identifier: {e}") })
}

/// An invoice body, version 1.
#[derive(Debug, Serialize, Deserialize)]
pub struct Invoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema_version: Option<u32>,
    id: String,
    number: Option<String>,
    customer: String,
    customer_name: String,
    period: String,
    from: Timestamp,
    to: Timestamp,
    currency: Currency,
    tax_rate: Decimal,
    lines: Vec<Line>,
    subtotal: Decimal,
    tax: Decimal,
    total: Decimal,
    sustainability: Sustainability,
    finalized_at: Option<Timestamp>,
}

/// An invoice line, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    n: u32,
    description: String,
    charge_type: String,
    service: Option<String>,
    resource: Option<String>,
    quantity: Decimal,
    unit: String,
    unit_price: Decimal,
    amount: Decimal,
}

/// The sustainability statement, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct Sustainability {
    it_kwh: Decimal,
    facility_kwh: Decimal,
    kg_co2e: Decimal,
    resources: Vec<Footprint>,
}

/// One resource's energy and carbon, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct Footprint {
    resource: String,
    service: String,
    it_kwh: Decimal,
    facility_kwh: Decimal,
    kg_co2e: Decimal,
}

impl Invoice {
    /// The document of a live body, tagged with its version.
    pub fn from_body(b: &invoice::Body) -> Self {
        let s = &b.sustainability;
        Self {
            schema_version: Some(VERSION),
            id: b.id.as_str().to_owned(),
            number: b.number.clone(),
            customer: b.customer.as_str().to_owned(),
            customer_name: b.customer_name.clone(),
            period: b.period.to_string(),
            from: b.from,
            to: b.to,
            currency: b.currency,
            tax_rate: b.tax_rate,
            lines: b.lines.iter().map(Line::from_live).collect(),
            subtotal: b.subtotal.amount(),
            tax: b.tax.amount(),
            total: b.total.amount(),
            sustainability: Sustainability {
                it_kwh: s.it_kwh,
                facility_kwh: s.facility_kwh,
                kg_co2e: s.kg_co2e,
                resources: s
                    .resources
                    .iter()
                    .map(|r| Footprint {
                        resource: r.resource.clone(),
                        service: r.service.clone(),
                        it_kwh: r.it_kwh,
                        facility_kwh: r.facility_kwh,
                        kg_co2e: r.kg_co2e,
                    })
                    .collect(),
            },
            finalized_at: b.finalized_at,
        }
    }

    /// The live body this document reads as.
    pub fn into_body(self) -> Result<invoice::Body, DocumentError> {
        tagged_one(self.schema_version)?;
        let s = self.sustainability;
        let money = |amount| Money::new(amount, self.currency);
        Ok(invoice::Body {
            id: id(InvoiceId::new(self.id))?,
            number: self.number,
            customer: id(CustomerId::new(self.customer))?,
            customer_name: self.customer_name,
            period: BillingPeriod::parse(&self.period)
                .map_err(|e| DocumentError::Value { version: VERSION, message: e.to_string() })?,
            from: self.from,
            to: self.to,
            currency: self.currency,
            tax_rate: self.tax_rate,
            lines: self.lines.into_iter().map(|l| l.into_live(self.currency)).collect(),
            subtotal: money(self.subtotal),
            tax: money(self.tax),
            total: money(self.total),
            sustainability: LiveSustainability {
                it_kwh: s.it_kwh,
                facility_kwh: s.facility_kwh,
                kg_co2e: s.kg_co2e,
                resources: s
                    .resources
                    .into_iter()
                    .map(|r| LiveFootprint {
                        resource: r.resource,
                        service: r.service,
                        it_kwh: r.it_kwh,
                        facility_kwh: r.facility_kwh,
                        kg_co2e: r.kg_co2e,
                    })
                    .collect(),
            },
            finalized_at: self.finalized_at,
        })
    }
}

impl Line {
    fn from_live(l: &LiveLine) -> Self {
        Self {
            n: l.n,
            description: l.description.clone(),
            charge_type: l.charge_type.clone(),
            service: l.service.clone(),
            resource: l.resource.clone(),
            quantity: l.quantity,
            unit: l.unit.clone(),
            unit_price: l.unit_price.amount(),
            amount: l.amount.amount(),
        }
    }

    /// The live line, its amounts in the invoice's `currency`.
    fn into_live(self, currency: Currency) -> LiveLine {
        LiveLine {
            n: self.n,
            description: self.description,
            charge_type: self.charge_type,
            service: self.service,
            resource: self.resource,
            quantity: self.quantity,
            unit: self.unit,
            unit_price: Money::new(self.unit_price, currency),
            amount: Money::new(self.amount, currency),
        }
    }
}

/// A credit note, version 1.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreditNote {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema_version: Option<u32>,
    id: String,
    number: String,
    invoice: String,
    invoice_number: String,
    customer: String,
    currency: Currency,
    reason: String,
    voids: bool,
    lines: Vec<CreditLine>,
    subtotal: Decimal,
    tax: Decimal,
    total: Decimal,
    issued_at: Timestamp,
}

/// A credited line, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct CreditLine {
    line: u32,
    description: String,
    amount: Decimal,
}

impl CreditNote {
    /// The document of a live credit note, tagged with its version.
    pub fn from_note(n: &credit_note::CreditNote) -> Self {
        Self {
            schema_version: Some(VERSION),
            id: n.id.as_str().to_owned(),
            number: n.number.clone(),
            invoice: n.invoice.as_str().to_owned(),
            invoice_number: n.invoice_number.clone(),
            customer: n.customer.as_str().to_owned(),
            currency: n.currency,
            reason: n.reason.clone(),
            voids: n.voids,
            lines: n
                .lines
                .iter()
                .map(|l| CreditLine { line: l.line, description: l.description.clone(), amount: l.amount.amount() })
                .collect(),
            subtotal: n.subtotal.amount(),
            tax: n.tax.amount(),
            total: n.total.amount(),
            issued_at: n.issued_at,
        }
    }

    /// The live credit note this document reads as.
    pub fn into_note(self) -> Result<credit_note::CreditNote, DocumentError> {
        tagged_one(self.schema_version)?;
        let money = |amount| Money::new(amount, self.currency);
        Ok(credit_note::CreditNote {
            id: id(CreditNoteId::new(self.id))?,
            number: self.number,
            invoice: id(InvoiceId::new(self.invoice))?,
            invoice_number: self.invoice_number,
            customer: id(CustomerId::new(self.customer))?,
            currency: self.currency,
            reason: self.reason,
            voids: self.voids,
            lines: self
                .lines
                .into_iter()
                .map(|l| LiveCreditLine { line: l.line, description: l.description, amount: money(l.amount) })
                .collect(),
            subtotal: money(self.subtotal),
            tax: money(self.tax),
            total: money(self.total),
            issued_at: self.issued_at,
        })
    }
}
