//! Crash safety: `colometer serve` is killed with SIGKILL at random moments, 20 times, while it
//! takes writes and checkpoints. After each restart every acknowledged reading is present exactly
//! once, every request is all or nothing, and the store opened with no manual repair.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tests::{Scratch, Server};

const INVENTORY: &str = r#"
sites: [{id: s1, pue: "1.2"}]
pdus: [{id: pdu-c, site: s1, snmp: {host: 127.0.0.1, version: v2c, community: c}}]
"#;

/// Batch `b` holds 100 readings: outlet `b % 7 + 1`, power `b*1000 + i` at second `b*100 + i`.
fn batch(b: u64) -> String {
    (0..100)
        .map(|i| {
            format!(
                "outlet,device=pdu-c,outlet={} power_w={} {}\n",
                b % 7 + 1,
                b * 1000 + i,
                1_790_000_000 + b * 100 + i
            )
        })
        .collect()
}

async fn stored(http: &reqwest::Client, url: &str, admin: &str) -> BTreeMap<(String, i64), String> {
    let sql = "SELECT resource, CAST(ts AS BIGINT) AS ts, value FROM readings";
    let r =
        http.post(format!("{url}/api/v1/query")).bearer_auth(admin).json(&json!({"sql": sql})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let rows = body["rows"].as_array().unwrap();
    let mut out = BTreeMap::new();
    for row in rows {
        let key = (row[0].as_str().unwrap().to_owned(), row[1].as_i64().unwrap());
        assert!(out.insert(key.clone(), row[2].as_str().unwrap().to_owned()).is_none(), "{key:?} is stored twice");
    }
    out
}

fn expected(b: u64) -> Vec<((String, i64), String)> {
    (0..100)
        .map(|i| {
            (
                ((b % 7 + 1).to_string(), (1_790_000_000 + (b * 100 + i) as i64) * 1_000_000_000),
                (b * 1000 + i).to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_sigkills_lose_nothing_acknowledged() {
    // Small buffers and frequent checkpoints, so kills also land mid-checkpoint.
    let s = Scratch::with_config("", "max_buffered_rows = 3000\ncheckpoint_interval = \"1s\"");
    s.import(INVENTORY);
    let admin = s.token("admin", None);
    let ingest = s.token("ingest", None);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261127);
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut sent: BTreeSet<u64> = BTreeSet::new();
    let mut next = 0u64;
    for round in 0..=20 {
        let mut server = Server::start(&s, &[]);
        let url = server.url.clone();
        // Everything acknowledged so far is there exactly once; every request all or nothing.
        let have = stored(&http, &url, &admin).await;
        for b in &sent {
            let present = expected(*b).iter().filter(|(k, v)| have.get(k) == Some(v)).count();
            if acked.contains(b) {
                assert_eq!(present, 100, "round {round}: acknowledged batch {b} has {present} of 100 readings");
            } else {
                assert!(
                    present == 0 || present == 100,
                    "round {round}: unacknowledged batch {b} is partly stored ({present})"
                );
            }
        }
        let total: usize =
            sent.iter().filter(|b| expected(**b).iter().all(|(k, v)| have.get(k) == Some(v))).count() * 100;
        assert_eq!(have.len(), total, "round {round}: stored rows that no request sent");
        if round == 20 {
            assert!(server.terminate(Duration::from_secs(15)).is_some_and(|st| st.success()));
            break;
        }
        // Write from two clients until the kill.
        let kill_after = Duration::from_millis(rng.random_range(50..600));
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let (http, url, ingest) = (http.clone(), url.clone(), ingest.clone());
            let first = next;
            next += 10_000;
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for b in first.. {
                    let r = http
                        .post(format!("{url}/api/v1/write?precision=s"))
                        .bearer_auth(&ingest)
                        .body(batch(b))
                        .send()
                        .await;
                    match r {
                        Ok(resp) if resp.status() == 204 => mine.push((b, true)),
                        _ => {
                            mine.push((b, false));
                            break;
                        }
                    }
                }
                mine
            }));
        }
        tokio::time::sleep(kill_after).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        for t in tasks {
            for (b, ok) in t.await.unwrap() {
                sent.insert(b);
                if ok {
                    acked.insert(b);
                }
            }
        }
    }
    assert!(acked.len() > 40, "too few batches acknowledged to mean anything: {}", acked.len());
}
