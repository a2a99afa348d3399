//! Properties of invoices: totals are the sum of the lines plus tax, each amount is its quantity
//! times its price rounded once; an issued invoice refuses every change, through the ledger and
//! even through SQL behind its back, on SQLite and on PostgreSQL (its triggers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use proptest::prelude::*;
use rust_decimal::Decimal;

use engine::catalog::LedgerError;
use engine::catalog::{Backend, PostgresCatalog, SqliteCatalog};
use engine::domain::Currency;
use engine::id::{CustomerId, InvoiceId};
use engine::invoicing::invoice::{Draft, Rated, Status, Sustainability};
use engine::rating::line::{Evidence, Item, Line, RatedLine};
use engine::time::Timestamp;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

/// To the cent, half away from zero (metering.md §8), computed here, not by the code under test.
fn cents(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

fn rated(customer: &str, lines: &[(i64, i64)], tax_permille: i64) -> Rated {
    let lines = lines
        .iter()
        .map(|&(q, p)| {
            let item = Item {
                description: format!("item {q} x {p}"),
                charge_type: "recurring",
                service: Some("svc".into()),
                resource: None,
            };
            // Quantities with 6 decimals, prices with 4: amounts need rounding.
            let line = Line::priced(item, Decimal::new(q, 6), "month", Decimal::new(p, 4), eur());
            let evidence = Evidence::OneOff { first_assignment: Timestamp::from_secs(0) };
            RatedLine { line, evidence }
        })
        .collect();
    Rated {
        customer: CustomerId::new(customer).unwrap(),
        customer_name: customer.to_uppercase(),
        period: engine::period::BillingPeriod::parse("2026-10").unwrap(),
        from: Timestamp::from_secs(1_790_812_800),
        to: Timestamp::from_secs(1_793_491_200),
        currency: eur(),
        tax_rate: Decimal::new(tax_permille, 3),
        lines,
        sustainability: Sustainability::default(),
    }
}

proptest! {
    /// total = subtotal + tax; subtotal = Σ amounts; tax = round(subtotal × rate); amount =
    /// round(quantity × unit_price), half away from zero.
    #[test]
    fn totals_are_lines_plus_tax(
        lines in proptest::collection::vec((0i64..10_000_000_000, 0i64..100_000_000), 1..40),
        tax in 0i64..300,
    ) {
        let d = Draft::new(InvoiceId::new("x.2026-10").unwrap(), rated("acme", &lines, tax)).unwrap();
        let b = d.body();
        let sum: Decimal = b.lines.iter().map(|l| l.amount.amount()).sum();
        let (subtotal, tax, total) = (b.subtotal.amount(), b.tax.amount(), b.total.amount());
        prop_assert_eq!(subtotal, sum);
        prop_assert_eq!(tax, cents(subtotal * b.tax_rate));
        prop_assert_eq!(total, subtotal + tax);
        prop_assert!([b.subtotal, b.tax, b.total].iter().all(|m| m.currency() == eur()));
        for (i, l) in b.lines.iter().enumerate() {
            let (amount, unit_price) = (l.amount.amount(), l.unit_price.amount());
            prop_assert_eq!(l.n as usize, i + 1);
            prop_assert_eq!(amount, cents(l.quantity * unit_price));
            prop_assert!((amount - l.quantity * unit_price).abs() <= Decimal::new(5, 3));
        }
        let evidence: Vec<serde_json::Value> = serde_json::from_str(d.evidence_json()).unwrap();
        prop_assert_eq!(evidence.len(), b.lines.len());
    }
}

proptest! {
    // Each case opens a database and commits a dozen fsynced transactions.
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever is tried on an issued invoice, its content stays byte for byte what was issued.
    #[test]
    fn issued_invoices_never_change(ops in proptest::collection::vec(0u8..7, 1..12), rebill in 1i64..1_000_000) {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = SqliteCatalog::open(dir.path()).unwrap();
        let path = ledger.path().to_owned();
        let behind = move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let edit = conn.execute("UPDATE invoices SET body = '{}' WHERE id = 'acme.2026-10'", []).map(drop);
            let gone = conn.execute("DELETE FROM invoices WHERE id = 'acme.2026-10'", []).map(drop);
            (edit.map_err(|e| e.to_string()), gone.map_err(|e| e.to_string()))
        };
        never_change(&mut ledger, &ops, rebill, &behind)?;
    }
}

/// The same property on PostgreSQL: one server, a fresh database per case; behind colometer's
/// back the triggers refuse.
#[test]
fn issued_invoices_never_change_on_postgresql() {
    let Some(pg) = tests::postgres::for_test("issued_invoices_never_change_on_postgresql") else { return };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(16));
    let case = std::sync::atomic::AtomicU32::new(0);
    let strategy = (proptest::collection::vec(0u8..7, 1..12), 1i64..1_000_000);
    runner
        .run(&strategy, |(ops, rebill)| {
            let db = format!("case{}", case.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let mut ledger = PostgresCatalog::connect(&pg.create_db(&db).unwrap()).unwrap();
            let behind = || {
                let edit = pg.psql_in(&db, "UPDATE invoices SET body = '{}' WHERE id = 'acme.2026-10'").map(drop);
                let gone = pg.psql_in(&db, "DELETE FROM invoices WHERE id = 'acme.2026-10'").map(drop);
                (edit, gone)
            };
            never_change(&mut ledger, &ops, rebill, &behind)
        })
        .unwrap();
}

type Behind<'a> = dyn Fn() -> (Result<(), String>, Result<(), String>) + 'a;

fn never_change(ledger: &mut dyn Backend, ops: &[u8], rebill: i64, behind: &Behind<'_>) -> Result<(), TestCaseError> {
    let at = |s: i64| Timestamp::from_secs(1_793_491_200 + s);
    let acme = [CustomerId::new("acme").unwrap()];
    ledger
        .apply_billing_run(
            engine::period::BillingPeriod::parse("2026-10").unwrap(),
            &acme,
            vec![rated("acme", &[(1_000_000, 9_000_000)], 210)],
            "t",
            at(0),
        )
        .unwrap();
    let issued = ledger.finalize_invoice(&iid("acme.2026-10"), "t", at(1)).unwrap();
    let body = issued.body.clone();
    for (i, op) in ops.iter().enumerate() {
        let t = at(10 + i as i64);
        let r = match op {
            0 => ledger.finalize_invoice(&iid("acme.2026-10"), "t", t).map(|_| ()),
            1 => ledger
                .apply_billing_run(
                    engine::period::BillingPeriod::parse("2026-10").unwrap(),
                    &acme,
                    vec![rated("acme", &[(rebill, 1)], 210)],
                    "t",
                    t,
                )
                // Kept while live; after a void the period is billed again under a new ID.
                .map(|run| assert!(run.kept.len() == 1 || !run.invoices.iter().any(|i| i.as_str() == "acme.2026-10"))),
            2 => ledger.send_invoice(&iid("acme.2026-10"), "t", t).map(|_| ()),
            3 => {
                ledger.credit_invoice(&iid("acme.2026-10"), &[(1, Decimal::new(1, 2))], "x".into(), "t", t).map(|_| ())
            }
            4 => ledger.record_payment(&iid("acme.2026-10"), Decimal::new(1, 2), t, None, "t", t).map(|_| ()),
            5 => ledger.void_invoice(&iid("acme.2026-10"), "x".into(), "t", t).map(|_| ()),
            _ => {
                // Behind colometer's back: the database itself refuses.
                let (edit, gone) = behind();
                prop_assert!(edit.is_err());
                prop_assert!(gone.is_err());
                Ok(())
            }
        };
        if let Err(e) = r {
            prop_assert!(matches!(e, LedgerError::Conflict(_) | LedgerError::Rule(_) | LedgerError::Credit(_)), "{e}");
        }
        let now = ledger.invoice(&iid("acme.2026-10")).unwrap();
        prop_assert_eq!(&now.body, &body);
        prop_assert!(now.status != Status::Draft);
    }
    prop_assert_eq!(engine::invoicing::audit::verify(&ledger.audit_log().unwrap()), Ok(()));
    Ok(())
}

/// An invoice ID in a test.
fn iid(s: &str) -> engine::id::InvoiceId {
    engine::id::InvoiceId::new(s).unwrap()
}
