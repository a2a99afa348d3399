//! Parallel billing: invoices of the system being replaced (a CSV of `customer, description,
//! quantity, amount`) against colometer's for the same period, line by line, with totals, so an
//! operator can run both for a cycle before switching.
//!
//! Lines match within a customer by description (case and spacing ignored); what matches nothing
//! is listed on its side alone. Amounts are before tax on both sides.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

/// One line of a legacy invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyLine {
    /// The customer's ID as colometer knows it.
    pub customer: String,
    /// Line text.
    pub description: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Amount before tax.
    pub amount: Decimal,
}

/// Why the legacy file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// Not CSV, or a missing column.
    #[error("{0}")]
    Csv(#[from] csv::Error),
    /// A header is missing.
    #[error("the legacy CSV needs the columns customer, description, quantity, amount; {0} is missing")]
    MissingColumn(&'static str),
    /// A number does not parse.
    #[error("line {line}: {column} {value:?} is not a decimal number")]
    BadNumber {
        /// 1-based line in the file (the header is line 1).
        line: u64,
        /// The column.
        column: &'static str,
        /// The text found.
        value: String,
    },
}

/// Reads a legacy CSV (header row required; extra columns ignored).
pub fn read_legacy(text: &str) -> Result<Vec<LegacyLine>, LegacyError> {
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = r.headers()?.clone();
    let col = |name: &'static str| {
        headers.iter().position(|h| h.eq_ignore_ascii_case(name)).ok_or(LegacyError::MissingColumn(name))
    };
    let (c, d, q, a) = (col("customer")?, col("description")?, col("quantity")?, col("amount")?);
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec?;
        let line = i as u64 + 2;
        let num = |idx: usize, column: &'static str| {
            let s = rec.get(idx).unwrap_or_default();
            s.parse::<Decimal>().map_err(|_| LegacyError::BadNumber { line, column, value: s.to_owned() })
        };
        out.push(LegacyLine {
            customer: rec.get(c).unwrap_or_default().to_owned(),
            description: rec.get(d).unwrap_or_default().to_owned(),
            quantity: num(q, "quantity")?,
            amount: num(a, "amount")?,
        });
    }
    Ok(out)
}

/// One compared line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The customer.
    pub customer: String,
    /// The description (colometer's when both exist).
    pub description: String,
    /// Legacy quantity.
    pub legacy_quantity: Option<Decimal>,
    /// Legacy amount.
    pub legacy_amount: Option<Decimal>,
    /// colometer's quantity.
    pub quantity: Option<Decimal>,
    /// colometer's amount.
    pub amount: Option<Decimal>,
    /// `amount − legacy_amount` (a missing side counts as 0).
    pub difference: Decimal,
}

/// Totals of one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerTotal {
    /// The customer.
    pub customer: String,
    /// Sum of legacy amounts.
    pub legacy: Decimal,
    /// Sum of colometer amounts.
    pub colometer: Decimal,
    /// `colometer − legacy`.
    pub difference: Decimal,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Line by line.
    pub rows: Vec<Row>,
    /// Per customer.
    pub customers: Vec<CustomerTotal>,
    /// Sum of legacy amounts.
    pub legacy_total: Decimal,
    /// Sum of colometer amounts.
    pub colometer_total: Decimal,
    /// `colometer_total − legacy_total`.
    pub difference: Decimal,
    /// Rows that differ in amount or exist on one side only.
    pub differing_rows: usize,
}

fn key(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Compares legacy lines with colometer's (`customer, description, quantity, amount`).
pub fn compare(legacy: &[LegacyLine], ours: &[LegacyLine]) -> Comparison {
    let mut rows = Vec::new();
    let mut by_customer: BTreeMap<String, (Vec<&LegacyLine>, Vec<&LegacyLine>)> = BTreeMap::new();
    for l in legacy {
        by_customer.entry(l.customer.clone()).or_default().0.push(l);
    }
    for l in ours {
        by_customer.entry(l.customer.clone()).or_default().1.push(l);
    }
    let mut customers = Vec::new();
    for (customer, (theirs, mut mine)) in by_customer {
        for t in &theirs {
            let found = mine.iter().position(|m| key(&m.description) == key(&t.description));
            let m = found.map(|i| mine.remove(i));
            rows.push(Row {
                customer: customer.clone(),
                description: m.map_or_else(|| t.description.clone(), |m| m.description.clone()),
                legacy_quantity: Some(t.quantity),
                legacy_amount: Some(t.amount),
                quantity: m.map(|m| m.quantity),
                amount: m.map(|m| m.amount),
                difference: m.map_or(Decimal::ZERO, |m| m.amount) - t.amount,
            });
        }
        for m in mine {
            rows.push(Row {
                customer: customer.clone(),
                description: m.description.clone(),
                legacy_quantity: None,
                legacy_amount: None,
                quantity: Some(m.quantity),
                amount: Some(m.amount),
                difference: m.amount,
            });
        }
        let legacy: Decimal = theirs.iter().map(|l| l.amount).sum();
        let colometer: Decimal = rows.iter().filter(|r| r.customer == customer).filter_map(|r| r.amount).sum();
        customers.push(CustomerTotal { customer, legacy, colometer, difference: colometer - legacy });
    }
    let legacy_total: Decimal = customers.iter().map(|c| c.legacy).sum();
    let colometer_total: Decimal = customers.iter().map(|c| c.colometer).sum();
    let differing_rows =
        rows.iter().filter(|r| !r.difference.is_zero() || r.amount.is_none() || r.legacy_amount.is_none()).count();
    Comparison {
        rows,
        customers,
        legacy_total,
        colometer_total,
        difference: colometer_total - legacy_total,
        differing_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn line_by_line_with_totals() {
        let legacy = read_legacy(
            "customer,description,quantity,amount,notes\n\
             acme,Rack rent  R1,1,900.00,x\n\
             acme,Power,993.45,300.00,\n\
             beta,Energy p1/1 (IT kWh),345.6,120.96,\n",
        )
        .unwrap();
        let ours = vec![
            LegacyLine {
                customer: "acme".into(),
                description: "rack rent r1".into(),
                quantity: d("1"),
                amount: d("900.00"),
            },
            LegacyLine {
                customer: "acme".into(),
                description: "Energy p1/1".into(),
                quantity: d("786.09"),
                amount: d("235.83"),
            },
            LegacyLine {
                customer: "beta".into(),
                description: "Energy p1/1 (IT kWh)".into(),
                quantity: d("345.6"),
                amount: d("120.96"),
            },
        ];
        let c = compare(&legacy, &ours);
        // acme: rent matches (case and spacing ignored); "Power" has no twin, "Energy p1/1" neither.
        assert_eq!(c.rows.len(), 4);
        assert_eq!(c.rows[0].difference, d("0.00"));
        assert_eq!((c.rows[1].amount, c.rows[1].difference), (None, d("-300.00")));
        assert_eq!((c.rows[2].legacy_amount, c.rows[2].difference), (None, d("235.83")));
        assert_eq!(c.customers[0].difference, d("-64.17"));
        assert_eq!((c.legacy_total, c.colometer_total, c.difference), (d("1320.96"), d("1256.79"), d("-64.17")));
        assert_eq!(c.differing_rows, 2);
        let bad = read_legacy("customer,description,quantity,amount\nacme,x,1,abc\n").unwrap_err();
        assert_eq!(bad.to_string(), "line 2: amount \"abc\" is not a decimal number");
        assert!(matches!(read_legacy("customer,quantity,amount\n"), Err(LegacyError::MissingColumn("description"))));
    }
}
