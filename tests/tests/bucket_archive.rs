//! Closed months' 5-minute buckets end to end: with `bucket_open_months = 1`, a restart keeps
//! only the current month in memory and archives the months before it; their buckets read back
//! exactly through SQL, and outlive raw retention.
//!
//! Timestamps follow the real clock (writes outside `[now − retention, now + 1 day)` are
//! refused): two hours on the 10th of the month before last, half an hour on the 1st of this one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use chrono::{Datelike, Months, TimeZone, Utc};
use serde_json::{Value, json};
use tests::{Scratch, Server};

/// Every 10 s from `from` for `minutes` (inclusive): 1,000 B/s in, 2,000 B/s out.
fn lines(from: chrono::DateTime<Utc>, minutes: i64) -> String {
    let mut out = String::new();
    for k in 0..=minutes * 6 {
        let ts = (from.timestamp() + k * 10) * 1_000_000_000;
        out.push_str(&format!(
            "port_counters,device=sw-core1,port=Gi1/0/1 in_octets={}u,out_octets={}u {ts}\n",
            1_000_000 + k * 10_000,
            9_000_000 + k * 20_000,
        ));
    }
    out
}

async fn sql(http: &reqwest::Client, server: &Server, token: &str, q: &str) -> Value {
    let r = http.post(format!("{}/api/v1/query", server.url)).bearer_auth(token).json(&json!({"sql": q})).send().await;
    let r = r.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json::<Value>().await.unwrap()["rows"].clone()
}

async fn metric(http: &reqwest::Client, server: &Server, name: &str) -> String {
    let text = http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.split(' ').next() == Some(name));
    line.unwrap_or_else(|| panic!("no {name} in {text}")).split(' ').nth(1).unwrap().to_owned()
}

fn config(storage: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"./data\"\nbucket_open_months = 1\n{storage}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_months_are_archived_read_back_exactly_and_outlive_raw_retention() {
    let s = Scratch::new();
    std::fs::write(s.config(), config("")).unwrap();
    s.import(&tests::example_inventory_with_globex());
    let (admin, ingest) = (s.token("admin", None), s.token("ingest", None));
    let now = Utc::now();
    let this_month = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).unwrap();
    let before_last = this_month.checked_sub_months(Months::new(2)).unwrap();
    let old_day = before_last + chrono::Duration::days(9) + chrono::Duration::hours(10);
    let new_day = this_month + chrono::Duration::hours(1);
    let http = reqwest::Client::new();

    let mut server = Server::start(&s, &[]);
    for body in [lines(old_day, 120), lines(new_day, 30)] {
        let w = http.post(format!("{}/api/v1/write", server.url)).bearer_auth(&ingest).body(body).send().await.unwrap();
        assert_eq!(w.status().as_u16(), 204, "{}", w.text().await.unwrap());
    }
    // The closed month's 24 complete buckets per direction, exactly (300,000 B in, 600,000 B
    // out); the counters then restart (this month's first sample is lower), so the reset interval
    // flags every bucket from the old day's last sample on, with no bytes (coverage missing).
    let last_month = this_month.checked_sub_months(Months::new(1)).unwrap();
    let q = format!(
        "SELECT direction, coverage, count(*) AS n, sum(bytes) AS b, bool_and(reset) AS r FROM port_buckets \
         WHERE bucket_start >= '{}' AND bucket_start < '{}' GROUP BY direction, coverage ORDER BY direction, coverage",
        before_last.to_rfc3339(),
        last_month.to_rfc3339()
    );
    let flagged = (last_month - (old_day + chrono::Duration::hours(2))).num_seconds() / 300;
    let want = json!([
        ["in", "complete", 24, 7_200_000, false],
        ["in", "missing", flagged, 0, true],
        ["out", "complete", 24, 14_400_000, false],
        ["out", "missing", flagged, 0, true]
    ]);
    assert_eq!(sql(&http, &server, &admin, &q).await, want, "before the restart (in memory)");
    assert!(server.terminate(Duration::from_secs(20)).is_some_and(|st| st.success()));

    // Restarted: the months before this one are archived, memory holds this month's only: the
    // first 3-hour chunk per direction, its buckets 00:00 (the reset interval) to 01:25 touched
    // in order, so grown 1, 2, 4, 8, 16, 32 buckets of 32 B.
    let mut server = Server::start(&s, &[]);
    assert_eq!(sql(&http, &server, &admin, &q).await, want, "read back from the archive");
    assert_eq!(metric(&http, &server, "colometer_bucket_archive_months").await, "2");
    assert_eq!(metric(&http, &server, "colometer_bucket_table_bytes").await, (2 * 32 * 32).to_string());
    let archived: Vec<String> = std::fs::read_dir(s.path("data/store/buckets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert!(archived.iter().any(|n| n.starts_with(&before_last.format("%Y-%m.").to_string())), "{archived:?}");
    assert!(server.terminate(Duration::from_secs(20)).is_some_and(|st| st.success()));

    // Raw retention of 20 days (maintenance every second here) drops the old readings; the
    // archived buckets stay.
    std::fs::write(s.config(), config("retention = \"20days\"\ncheckpoint_interval = \"1s\"")).unwrap();
    let server = Server::start(&s, &[]);
    let raw = format!("SELECT count(*) FROM readings WHERE ts < '{}'", this_month.to_rfc3339());
    let deadline = Instant::now() + Duration::from_secs(60);
    while sql(&http, &server, &admin, &raw).await != json!([[0]]) {
        assert!(Instant::now() < deadline, "retention did not drop the old readings");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sql(&http, &server, &admin, &q).await, want, "after raw retention");
}
