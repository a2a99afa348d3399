//! The PostgreSQL catalog against a throwaway server (Debian's `postgresql`, started per test on
//! a free loopback port and stopped by `pg_ctl`; skipped saying why where it cannot run, failing
//! then when COLOMETER_REQUIRE_FIXTURES=1):
//! - 200 finalizes from two catalogs at once (two pools, two runtimes: to the database, two
//!   processes) take the numbers 1..200 exactly once each, and the audit chain verifies;
//! - the database refuses edits of issued records itself (triggers), also `TRUNCATE`;
//! - migrations run once, and a schema newer than the binary is refused;
//! - an unreachable server or a missing database is a clear error naming the host;
//! - idempotency keys and billing-run claims hold across two catalogs;
//! - TLS: `verify-full` with the server's CA encrypts; `require` without it is refused (colometer
//!   always verifies); the default (`prefer`) connects in the clear to the same server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

#[path = "fixtures/ledger.rs"]
mod ledger_fixture;
use ledger_fixture::rated;

use std::collections::BTreeSet;

use engine::catalog::idempotency::Claim;
use engine::catalog::{Backend, Catalog, CatalogError, IdempotencyKeys, Ledger, PgError, PostgresCatalog};
use engine::id::CustomerId;
use engine::time::Timestamp;
use rust_decimal::Decimal;
use tests::postgres::{Postgres, for_test};

/// November 2, 2026: after October ended.
fn at(s: i64) -> Timestamp {
    Timestamp::from_secs(1_793_577_600 + s)
}

fn catalog(pg: &Postgres, db: &str) -> (String, PostgresCatalog) {
    let url = pg.create_db(db).unwrap();
    let c = PostgresCatalog::connect(&url).unwrap();
    (url, c)
}

#[test]
fn two_catalogs_finalizing_at_once_number_gaplessly() {
    let Some(pg) = for_test("two_catalogs_finalizing_at_once_number_gaplessly") else { return };
    let (url, mut a) = catalog(&pg, "numbers");
    let customers: Vec<String> = (0..200).map(|i| format!("c{i:03}")).collect();
    let ids: Vec<CustomerId> = customers.iter().map(|c| CustomerId::new(c.as_str()).unwrap()).collect();
    let run = a
        .apply_billing_run(
            engine::period::BillingPeriod::parse("2026-10").unwrap(),
            &ids,
            customers.iter().map(|c| rated(c)).collect(),
            "t",
            at(0),
        )
        .unwrap();
    assert_eq!(run.created.len(), 200);
    let mut b = PostgresCatalog::connect(&url).unwrap();
    type Share<'a> = Vec<(usize, &'a String)>;
    let (evens, odds): (Share<'_>, Share<'_>) = customers.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let finalize = |c: &mut PostgresCatalog, mine: Vec<(usize, &String)>| -> Vec<String> {
        mine.iter()
            .map(|(i, cust)| {
                let v = c.finalize_invoice(&iid(&format!("{cust}.2026-10")), "t", at(*i as i64 + 1)).unwrap();
                v.body.number.unwrap()
            })
            .collect()
    };
    let (na, nb) = std::thread::scope(|s| {
        let ja = s.spawn(|| finalize(&mut a, evens));
        let jb = s.spawn(|| finalize(&mut b, odds));
        (ja.join().unwrap(), jb.join().unwrap())
    });
    let all: BTreeSet<String> = na.iter().chain(&nb).cloned().collect();
    let want: BTreeSet<String> = (1..=200).map(|n| format!("2026-{n:06}")).collect();
    assert_eq!(all, want, "every number once, none missing");
    assert_eq!(na.len() + nb.len(), 200);
    // Both catalogs appended to one chain, which holds.
    let log = a.audit_log().unwrap();
    assert_eq!(log.len(), 201);
    assert_eq!(engine::invoicing::audit::verify(&log), Ok(()));
    let counts: Vec<(String, u64)> = a.invoice_counts().unwrap();
    assert_eq!(counts, [("finalized".to_owned(), 200)]);
}

#[test]
fn the_database_refuses_edits_of_issued_records() {
    let Some(pg) = for_test("the_database_refuses_edits_of_issued_records") else { return };
    let (_, mut c) = catalog(&pg, "triggers");
    let ids = [CustomerId::new("acme").unwrap(), CustomerId::new("beta").unwrap()];
    c.apply_billing_run(
        engine::period::BillingPeriod::parse("2026-10").unwrap(),
        &ids,
        vec![rated("acme"), rated("beta")],
        "t",
        at(0),
    )
    .unwrap();
    c.finalize_invoice(&iid("acme.2026-10"), "t", at(1)).unwrap();
    c.record_payment(&iid("acme.2026-10"), Decimal::new(100, 0), at(2), None, "t", at(2)).unwrap();
    let refused = |sql: &str, why: &str| {
        let e = pg.psql_in("triggers", sql).expect_err(sql);
        assert!(e.contains(why), "{sql}: {e}");
    };
    refused("UPDATE invoices SET body = '{}' WHERE id = 'acme.2026-10'", "an issued invoice never changes");
    refused("UPDATE invoices SET number = '2026-999999' WHERE id = 'acme.2026-10'", "an issued invoice never changes");
    refused("UPDATE invoices SET status = 'draft' WHERE id = 'acme.2026-10'", "an issued invoice never changes");
    refused("DELETE FROM invoices WHERE id = 'acme.2026-10'", "an issued invoice is never deleted");
    refused("TRUNCATE invoices CASCADE", "never deleted");
    refused("UPDATE audit_log SET actor = 'x'", "append-only");
    refused("DELETE FROM audit_log", "append-only");
    refused("TRUNCATE audit_log", "append-only");
    refused("UPDATE payments SET amount = 1", "payments never change");
    refused("DELETE FROM payments", "payments never change");
    // A draft is still the ledger's to rebuild or discard.
    pg.psql_in("triggers", "UPDATE invoices SET body = body WHERE id = 'beta.2026-10'").unwrap();
    assert_eq!(engine::invoicing::audit::verify(&c.audit_log().unwrap()), Ok(()));
    assert_eq!(
        pg.psql_in("triggers", "SELECT status FROM invoices WHERE id = 'acme.2026-10'").unwrap().trim(),
        "finalized"
    );
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(pg) = for_test("migrations_run_once_and_a_newer_schema_is_refused") else { return };
    let url = pg.create_db("schema").unwrap();
    // Two catalogs starting at once migrate once (the advisory lock); both work after.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| PostgresCatalog::connect(&url));
        let b = s.spawn(|| PostgresCatalog::connect(&url));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    // The schema is at the last migration's version (1, then 2: cluster leases, 3: membership); a migration run
    // twice would have failed creating its tables again.
    assert_eq!(pg.psql_in("schema", "SELECT version FROM colometer_schema").unwrap().trim(), "3");
    assert_eq!(a.generation().unwrap(), 0);
    assert_eq!(b.generation().unwrap(), 0);
    drop((a, b));
    pg.psql_in("schema", "UPDATE colometer_schema SET version = 99").unwrap();
    match PostgresCatalog::connect(&url) {
        Err(CatalogError::FutureSchema { found: 99, known: 3 }) => {}
        other => panic!("expected FutureSchema, got {:?}", other.err()),
    }
}

#[test]
fn unreachable_servers_and_missing_databases_are_named() {
    // A port held by a listener that hangs up on every connection (held, so no test's server can
    // take it meanwhile): the host named.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });
    let url = format!("postgres://colometer:secret@127.0.0.1:{port}/ledger");
    match PostgresCatalog::connect(&url) {
        Err(CatalogError::Postgres(e @ PgError::Unreachable { .. })) => {
            let m = e.to_string();
            assert!(m.contains(&format!("127.0.0.1:{port}/ledger")), "{m}");
            assert!(!m.contains("secret"), "the password is never shown: {m}");
            assert!(e.is_unavailable());
        }
        other => panic!("expected Unreachable, got {:?}", other.err()),
    }
    assert!(matches!(PostgresCatalog::connect("mysql://x@h/db"), Err(CatalogError::Postgres(PgError::Url(_)))));
    let Some(pg) = for_test("unreachable_servers_and_missing_databases_are_named") else { return };
    match PostgresCatalog::connect(&pg.url("no_such_db")) {
        Err(CatalogError::Postgres(e @ PgError::Auth { .. })) => {
            assert!(e.to_string().contains("no_such_db"), "{e}");
            assert!(!e.is_unavailable(), "configuration, not an outage");
        }
        other => panic!("expected Auth, got {:?}", other.err()),
    }
}

#[test]
fn idempotency_keys_and_billing_run_claims_hold_across_catalogs() {
    let Some(pg) = for_test("idempotency_keys_and_billing_run_claims_hold_across_catalogs") else { return };
    let (url, mut a) = catalog(&pg, "keys");
    let mut b = PostgresCatalog::connect(&url).unwrap();
    let (scope, f, g) = ([1u8; 32], [7u8; 32], [8u8; 32]);
    assert_eq!(a.claim_idempotency_key(&scope, "k1", &f, at(0)).unwrap(), Claim::Claimed);
    assert_eq!(b.claim_idempotency_key(&scope, "k1", &f, at(1)).unwrap(), Claim::InProgress);
    assert_eq!(b.claim_idempotency_key(&scope, "k1", &g, at(1)).unwrap(), Claim::Mismatch);
    let r = engine::catalog::idempotency::StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        body: b"{\"id\":1}".to_vec(),
    };
    a.complete_idempotency_key(&scope, "k1", &r).unwrap();
    assert_eq!(b.claim_idempotency_key(&scope, "k1", &f, at(2)).unwrap(), Claim::Replay(r));
    // A day later the key is forgotten.
    let day = engine::catalog::idempotency::KEEP_NS / 1_000_000_000;
    assert_eq!(b.claim_idempotency_key(&scope, "k1", &g, at(day + 1)).unwrap(), Claim::Claimed);

    // One billing run per period at a time, across catalogs; released with its guard.
    let held = a.claim_billing_run(engine::period::BillingPeriod::parse("2026-10").unwrap()).unwrap().expect("free");
    assert!(b.claim_billing_run(engine::period::BillingPeriod::parse("2026-10").unwrap()).unwrap().is_none());
    assert!(b.claim_billing_run(engine::period::BillingPeriod::parse("2026-11").unwrap()).unwrap().is_some());
    drop(held);
    assert!(b.claim_billing_run(engine::period::BillingPeriod::parse("2026-10").unwrap()).unwrap().is_some());
}

#[test]
fn tls_is_verified_or_not_used() {
    let Some(pg) = for_test("tls_is_verified_or_not_used") else { return };
    let ca = pg.enable_tls().unwrap();
    pg.create_db("tls").unwrap();
    let encrypted = |app: &str| {
        pg.psql_in(
            "tls",
            &format!(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = '{app}' LIMIT 1"
            ),
        )
        .unwrap()
        .trim()
        .to_owned()
    };
    let base = format!("postgres://postgres@127.0.0.1:{}/tls", pg.port());
    // Verified against the CA: encrypted (the pool keeps its connection open to be seen).
    let verified = PostgresCatalog::connect(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}&application_name=v",
        ca.display()
    ))
    .unwrap();
    assert_eq!(verified.generation().unwrap(), 0);
    assert_eq!(encrypted("v"), "t");
    // `require` without a root that signs the server's certificate: refused, never unverified.
    match PostgresCatalog::connect(&format!("{base}?sslmode=require&application_name=r")) {
        Err(CatalogError::Postgres(e)) => {
            assert!(e.to_string().contains(&format!("127.0.0.1:{}/tls", pg.port())), "{e}")
        }
        other => panic!("expected a refused TLS connection, got {:?}", other.err()),
    }
    // The default connects to the same server in the clear.
    let plain = PostgresCatalog::connect(&format!("{base}?application_name=p")).unwrap();
    assert_eq!(plain.generation().unwrap(), 0);
    assert_eq!(encrypted("p"), "f");
}

/// An invoice ID in a test.
fn iid(s: &str) -> engine::id::InvoiceId {
    engine::id::InvoiceId::new(s).unwrap()
}
