//! Two `colometer serve` processes finalizing invoices on one PostgreSQL, with the real binary and
//! real servers (skipped, saying why, where PostgreSQL cannot run; failing then when
//! COLOMETER_REQUIRE_FIXTURES=1):
//! - 200 finalizes split across the two processes take the numbers 1..200 exactly once;
//! - a primary with a synchronous standby (`pg_basebackup -R`, `synchronous_standby_names = '*'`)
//!   is SIGKILLed mid-run and the standby promoted (`pg_ctl promote`): every finalize answered
//!   `200` is on the new primary with its number, the numbers have no gaps or duplicates, the
//!   audit chain verifies, and both processes serve again within 30 s without a restart.
//!
//! The drafts and the admin token are written straight through the engine's PostgreSQL catalog
//! (what a billing run would store); everything after goes through HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

#[path = "../../engine/tests/fixtures/ledger.rs"]
mod ledger_fixture;
use ledger_fixture::rated;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use engine::access::{self, Role};
use engine::catalog::{Catalog, Ledger, PostgresCatalog};
use engine::id::CustomerId;
use engine::invoicing::invoice::Status;
use engine::invoicing::record::InvoiceFilter;
use engine::time::Timestamp;
use serde_json::Value;
use tests::{Scratch, Server};

const INVOICES: usize = 200;

fn invoice_ids() -> Vec<String> {
    (0..INVOICES).map(|i| format!("c{i:03}.2026-10")).collect()
}

/// 200 October drafts and an admin token in the catalog at `url`; the token's secret.
fn drafts_and_admin(url: &str) -> String {
    let mut c = PostgresCatalog::connect(url).unwrap();
    let customers: Vec<String> = (0..INVOICES).map(|i| format!("c{i:03}")).collect();
    let ids: Vec<CustomerId> = customers.iter().map(|c| CustomerId::new(c.as_str()).unwrap()).collect();
    let at = Timestamp::from_secs(1_793_577_600);
    let run = c
        .apply_billing_run(
            engine::period::BillingPeriod::parse("2026-10").unwrap(),
            &ids,
            customers.iter().map(|c| rated(c)).collect(),
            "t",
            at,
        )
        .unwrap();
    assert_eq!(run.created.len(), INVOICES);
    let admin = access::generate(Role::Admin, Some("failover test".into()), at).unwrap();
    c.insert_token(&admin.record).unwrap();
    admin.secret
}

/// What finalizing one invoice came to.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Answered `200` with this number.
    Numbered(String),
    /// An earlier attempt's answer was lost (a `503` while the primary died) and a retry found it
    /// already finalized (`409`): its number is whatever the database holds.
    FinalizedUnanswered,
}

/// Finalizes `ids` one by one on `base`, retrying `503`s (the database away) until `deadline`.
async fn finalize_all(
    http: reqwest::Client,
    base: String,
    token: String,
    ids: Vec<String>,
    answered: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    deadline: Instant,
) -> BTreeMap<String, Outcome> {
    let mut out = BTreeMap::new();
    for id in ids {
        let mut unanswered = false;
        let outcome = loop {
            assert!(Instant::now() < deadline, "{id}: no answer from {base} by the deadline");
            let r = http.post(format!("{base}/api/v1/invoices/{id}/finalize")).bearer_auth(&token).send().await;
            let Ok(r) = r else {
                unanswered = true;
                continue;
            };
            match r.status().as_u16() {
                200 => {
                    let v: Value = r.json().await.unwrap();
                    break Outcome::Numbered(v["number"].as_str().unwrap().to_owned());
                }
                409 if unanswered => break Outcome::FinalizedUnanswered,
                503 => {
                    assert!(r.headers().contains_key("retry-after"), "{id}: a 503 without Retry-After");
                    refused.fetch_add(1, Ordering::Relaxed);
                    unanswered = true;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("{id}: {other} {}", r.text().await.unwrap_or_default()),
            }
        };
        answered.fetch_add(1, Ordering::Relaxed);
        out.insert(id, outcome);
    }
    out
}

/// Runs both halves at once, A the even invoices and B the odd ones.
async fn finalize_split(
    a: &Server,
    b: &Server,
    token: &str,
    answered: &Arc<AtomicUsize>,
    refused: &Arc<AtomicUsize>,
) -> (tokio::task::JoinHandle<BTreeMap<String, Outcome>>, tokio::task::JoinHandle<BTreeMap<String, Outcome>>) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let ids = invoice_ids();
    let even: Vec<String> = ids.iter().step_by(2).cloned().collect();
    let odd: Vec<String> = ids.iter().skip(1).step_by(2).cloned().collect();
    let (n, r) = (Arc::clone(answered), Arc::clone(refused));
    let ta = tokio::spawn(finalize_all(http.clone(), a.url.clone(), token.into(), even, n, r, deadline));
    let (n, r) = (Arc::clone(answered), Arc::clone(refused));
    let tb = tokio::spawn(finalize_all(http, b.url.clone(), token.into(), odd, n, r, deadline));
    (ta, tb)
}

/// Every invoice finalized on `url`'s primary, numbered 1..200 exactly once, every answered
/// number as stored, the audit chain intact.
fn check_ledger(url: &str, outcomes: &BTreeMap<String, Outcome>) {
    let c = PostgresCatalog::connect(url).unwrap();
    let (all, next) = c
        .invoices(&InvoiceFilter {
            period: Some(engine::period::BillingPeriod::parse("2026-10").unwrap()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!((all.len(), next), (INVOICES, None));
    let stored: BTreeMap<String, String> =
        all.iter().map(|v| (v.body.id.to_string(), v.body.number.clone().unwrap_or_default())).collect();
    assert!(all.iter().all(|v| v.status == Status::Finalized), "every invoice finalized");
    let numbers: BTreeSet<&String> = stored.values().collect();
    let want: Vec<String> = (1..=INVOICES).map(|n| format!("2026-{n:06}")).collect();
    assert_eq!(numbers.into_iter().cloned().collect::<Vec<_>>(), want, "numbers 1..200, no gap, no duplicate");
    for (id, o) in outcomes {
        if let Outcome::Numbered(n) = o {
            assert_eq!(stored.get(id), Some(n), "{id}: answered {n}, stored otherwise");
        }
    }
    let log = c.audit_log().unwrap();
    assert_eq!(engine::invoicing::audit::verify(&log), Ok(()));
    assert_eq!(log.iter().filter(|e| e.action == "invoice.finalize").count(), INVOICES);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_serve_processes_number_200_finalizes_gaplessly() {
    let Some(pg) = tests::postgres::for_test("two_serve_processes_number_200_finalizes_gaplessly") else { return };
    let url = pg.create_db("split").unwrap();
    let token = tokio::task::spawn_blocking({
        let url = url.clone();
        move || drafts_and_admin(&url)
    })
    .await
    .unwrap();
    let (sa, sb) = (Scratch::on_catalog(&url), Scratch::on_catalog(&url));
    let (a, b) = (Server::start(&sa, &[]), Server::start(&sb, &[]));
    let (answered, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (ta, tb) = finalize_split(&a, &b, &token, &answered, &refused).await;
    let mut outcomes = ta.await.unwrap();
    outcomes.extend(tb.await.unwrap());
    assert!(outcomes.values().all(|o| matches!(o, Outcome::Numbered(_))), "no outage here: every finalize answered");
    assert_eq!(refused.load(Ordering::Relaxed), 0, "no outage here: no 503");
    tokio::task::spawn_blocking(move || check_ledger(&url, &outcomes)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_loses_no_answered_finalize() {
    let Some(primary) = tests::postgres::for_test("a_failover_loses_no_answered_finalize") else { return };
    primary.create_db("ledger").unwrap();
    let primary_url = primary.url("ledger");
    let token = tokio::task::spawn_blocking(move || drafts_and_admin(&primary_url)).await.unwrap();
    // A synchronous standby: a commit is acknowledged once the standby has it.
    let standby = primary.standby().unwrap();
    primary.psql_in("ledger", "ALTER SYSTEM SET synchronous_standby_names = '*'").unwrap();
    primary.psql_in("ledger", "SELECT pg_reload_conf()").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while primary
        .psql_in("ledger", "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")
        .unwrap()
        .trim()
        != "1"
    {
        assert!(Instant::now() < deadline, "the standby never became synchronous");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/ledger?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    let (sa, sb) = (Scratch::on_catalog(&url), Scratch::on_catalog(&url));
    let (a, b) = (Server::start(&sa, &[]), Server::start(&sb, &[]));
    let (answered, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (ta, tb) = finalize_split(&a, &b, &token, &answered, &refused).await;
    // Mid-run: the primary's machine is lost, the standby promoted.
    while answered.load(Ordering::Relaxed) < INVOICES / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    primary.kill().unwrap();
    standby.promote().unwrap();
    // Both processes serve again within 30 s of the promotion, without a restart.
    let promoted = Instant::now();
    let http = reqwest::Client::new();
    for s in [&a, &b] {
        loop {
            let r = http.get(format!("{}/api/v1/invoices/c000.2026-10", s.url)).bearer_auth(&token).send().await;
            if r.is_ok_and(|r| r.status().as_u16() == 200) {
                break;
            }
            assert!(promoted.elapsed() < Duration::from_secs(30), "{} not serving 30 s after the promotion", s.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!("failover: both processes served {:?} after the promotion", promoted.elapsed());
    let mut outcomes = ta.await.unwrap();
    outcomes.extend(tb.await.unwrap());
    let unanswered = outcomes.values().filter(|o| **o == Outcome::FinalizedUnanswered).count();
    eprintln!(
        "failover: {} request(s) refused with 503 during the outage; {unanswered} finalize(s) committed whose answer \
         was lost; all others answered 200",
        refused.load(Ordering::Relaxed)
    );
    let standby_url = standby.url("ledger");
    tokio::task::spawn_blocking(move || check_ledger(&standby_url, &outcomes)).await.unwrap();
}
