//! `GET /api/v1/customers/{id}/usage` end to end: lines in over HTTP, the contract's usage object
//! out, exact; customer isolation and roles.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use serde_json::{Value, json};
use tests::{Scratch, Server, example_lines as lines};

async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_object_is_exact_and_isolated() {
    // October 2026 stays an open month (in memory) whatever the real date, so the bucket table's
    // own counters below are those of in-order applies; `bucket_archive.rs` covers closed months.
    let s = Scratch::with_config("", "bucket_open_months = 240");
    s.import(&tests::example_inventory_with_globex());
    let admin = s.token("admin", None);
    let billing = s.token("billing", None);
    let ingest = s.token("ingest", None);
    let acme = s.token("customer", Some("acme"));
    let globex = s.token("customer", Some("globex"));
    let server = Server::start(&s, &[]);
    let http = reqwest::Client::new();
    let w = http.post(format!("{}/api/v1/write", server.url)).bearer_auth(&ingest).body(lines()).send().await.unwrap();
    let status = w.status().as_u16();
    assert_eq!(status, 204, "{}", w.text().await.unwrap());

    let url = |c: &str, q: &str| format!("{}/api/v1/customers/{c}/usage?{q}", server.url);
    let window = "from=2026-10-15T11:00:00Z&to=2026-10-15T13:00:00Z";
    let (status, body) = get(&http, &url("acme", window), Some(&billing)).await;
    assert_eq!(status, 200, "{body}");
    // The outlet is acme's until 12:00: 360 Wh. Facility x1.35 = 0.486 kWh; carbon 0.486 x 328 g.
    // The port: 24 complete buckets, in 300,000 B (0.008 Mbps), out 600,000 B (0.016 Mbps);
    // k = ceil(0.95 x 24) = 23, one discarded; ties rank by start, so rank 23 is bucket 22.
    assert_eq!(
        body,
        json!({
            "customer": "acme", "from": "2026-10-15T11:00:00Z", "to": "2026-10-15T13:00:00Z",
            "energy": {"it_kwh": "0.360000", "facility_kwh": "0.486000",
                       "flags": {"gaps": 0, "resets": 0, "reset_estimated": 0}},
            "carbon": {"kg_co2e": "0.159408", "default_intensity_hours": 0},
            "bandwidth": {"method": "max_in_out", "pooling": "pooled", "p95_mbps": "0.016000",
                          "p95_in_mbps": "0.008000", "p95_out_mbps": "0.016000", "samples": 24, "discarded": 1,
                          "p95_bucket": "2026-10-15T12:50:00Z",
                          "flags": {"estimated": 0, "missing": 0, "reset": 0, "implausible": 0}},
            "resources": [
                {"kind": "outlet", "id": "pdu-101a/1", "service": "svc-acme-1", "it_kwh": "0.360000",
                 "facility_kwh": "0.486000", "kg_co2e": "0.159408"},
                {"kind": "port", "id": "sw-core1/Gi1/0/1", "service": "svc-acme-1", "p95_mbps": "0.016000"}
            ],
            "services": [{"id": "svc-acme-1", "bandwidth": body["bandwidth"].clone()}]
        })
    );
    // The billing month, in the customer's timezone. The readings start at 10:59 and end at
    // 13:01: the outlet adds 6 Wh before 11:00 (it is acme's all the way to 12:00), and the port's
    // 10:55 and 13:00 buckets are partly covered (60 s each) and count in n (missing buckets are
    // excluded by the plan): n = 26, k = ceil(24.7) = 25, one discarded, p95 unchanged.
    let (status, month) = get(&http, &url("acme", "period=2026-10"), Some(&acme)).await;
    assert_eq!(status, 200, "{month}");
    assert_eq!(
        (month["from"].clone(), month["to"].clone()),
        (json!("2026-10-01T00:00:00Z"), json!("2026-11-01T00:00:00Z"))
    );
    assert_eq!(month["energy"]["it_kwh"], "0.366000");
    assert_eq!((month["bandwidth"]["samples"].clone(), month["bandwidth"]["discarded"].clone()), (json!(26), json!(1)));
    assert_eq!(month["bandwidth"]["p95_mbps"], "0.016000");

    // The same buckets and energy through SQL, for staff.
    let sql = |q: &str| {
        let (http, url, admin) = (http.clone(), format!("{}/api/v1/query", server.url), admin.clone());
        let q = q.to_owned();
        async move {
            let r = http.post(url).bearer_auth(admin).json(&json!({"sql": q})).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, b) = sql("SELECT direction, count(*) AS n, nearest_rank(bytes, 0.95) AS p95 FROM port_buckets \
         WHERE bucket_start >= '2026-10-15T11:00:00Z' AND bucket_start < '2026-10-15T13:00:00Z' \
         GROUP BY direction ORDER BY direction")
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["rows"], json!([["in", 24, 300000], ["out", 24, 600000]]));
    let (status, b) = sql("SELECT coverage, count(*) FROM port_buckets GROUP BY coverage ORDER BY coverage").await;
    assert_eq!((status, b["rows"].clone()), (200, json!([["complete", 48], ["partial", 4]])));
    let (status, b) = sql("SELECT sum(energy_wh) AS wh, min(source) AS src FROM outlet_energy \
         WHERE bucket_start >= '2026-10-15T11:00:00Z' AND bucket_start < '2026-10-15T12:00:00Z'")
    .await;
    assert_eq!((status, b["rows"].clone()), (200, json!([["360", "counter"]])), "{b}");
    let (status, b) = sql("SELECT count(*) FROM outlet_energy").await;
    assert_eq!(status, 400, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("give a bucket_start range"), "{b}");

    // Every port's running 95th this month (staff): the data's month is October (UTC). The
    // last sample (13:01) ends 25 buckets (10:55 partly, 11:00..12:55); k = ceil(23.75) = 24.
    let (status, ports) = get(&http, &format!("{}/api/v1/ports/month-to-date", server.url), Some(&billing)).await;
    assert_eq!(status, 200, "{ports}");
    assert_eq!(
        ports,
        json!([
            {"id": "sw-core1/Gi1/0/1", "direction": "in", "month_start": "2026-10-01T00:00:00Z", "p95_mbps": "0.008000",
             "p95_bucket": "2026-10-15T12:50:00Z", "samples": 25, "discarded": 1},
            {"id": "sw-core1/Gi1/0/1", "direction": "out", "month_start": "2026-10-01T00:00:00Z", "p95_mbps": "0.016000",
             "p95_bucket": "2026-10-15T12:50:00Z", "samples": 25, "discarded": 1}
        ])
    );
    assert_eq!(get(&http, &format!("{}/api/v1/ports/month-to-date", server.url), Some(&acme)).await.0, 403);
    // The customer's month so far (the real clock's month: no readings in it here).
    let (status, mtd) = get(&http, &url("acme", "").replace("usage?", "month-to-date"), Some(&acme)).await;
    assert_eq!(status, 200, "{mtd}");
    assert_eq!(
        (mtd["usage"]["energy"]["it_kwh"].clone(), mtd["projected"]["commit_mbps"].clone()),
        (json!("0.000000"), json!("100.000000"))
    );
    assert_eq!(get(&http, &url("acme", "").replace("usage?", "month-to-date"), Some(&globex)).await.0, 404);

    // The bucket table's own counters: 733 samples per direction, the first of each opens the
    // series, the other 732 are applied in order; nothing late; nothing waiting.
    let text = http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
    for line in [
        "colometer_bucket_table_samples_applied_total 1464",
        "colometer_bucket_table_samples_late_total 0",
        // 10:59-13:01 touches two 3-hour chunks per direction: 09:00 from its 10:55 bucket to
        // the chunk's end (a run grown 1, 2, 4, 8, then the 13 left), 12:00 up to its 13:00
        // bucket (grown 1, 2, 4, 8, 16): (13 + 16) x 2 x 32 B.
        "colometer_bucket_table_bytes 1856",
        "colometer_bucket_table_lag_batches 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in {text}");
    }

    // Isolation and roles.
    assert_eq!(get(&http, &url("acme", window), Some(&globex)).await.0, 404);
    assert_eq!(get(&http, &url("nobody", window), Some(&admin)).await.0, 404);
    assert_eq!(get(&http, &url("acme", window), Some(&ingest)).await.0, 403);
    assert_eq!(get(&http, &url("acme", window), None).await.0, 401);
    let (status, own) = get(&http, &url("globex", window), Some(&globex)).await;
    assert_eq!(
        (status, own["energy"]["it_kwh"].clone(), own["bandwidth"]["samples"].clone()),
        (200, json!("0.000000"), json!(0))
    );

    // Kept usage objects: asked again, acme's window is served from the cache (three objects
    // computed so far: acme's window and month, globex's window); a late reading inside it is
    // seen at once. The energy counter at 11:30:00 (sample 186) rewritten 10 Wh higher: the
    // interval before holds 11 Wh, the one after is a reset (no power samples: 0 Wh), so acme's
    // 360 Wh become 369 Wh with one reset.
    let cache = |http: reqwest::Client, url: String| async move {
        let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
        let metric = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok());
        (metric("colometer_usage_cache_hits_total "), metric("colometer_usage_cache_misses_total "))
    };
    assert_eq!(get(&http, &url("acme", window), Some(&billing)).await, (200, body.clone()));
    assert_eq!(cache(http.clone(), server.url.clone()).await, (Some(1), Some(3)));
    // 2026-10-15T10:59:00Z (the example's first sample) + 1,860 s, in seconds.
    let late = format!("outlet,device=pdu-101a,outlet=1 energy_wh=5196 {}", 1_792_061_940i64 + 1_860);
    let w = http
        .post(format!("{}/api/v1/write?precision=s", server.url))
        .bearer_auth(&ingest)
        .body(late)
        .send()
        .await
        .unwrap();
    assert_eq!(w.status().as_u16(), 204);
    let (status, after) = get(&http, &url("acme", window), Some(&billing)).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        (after["energy"]["it_kwh"].clone(), after["energy"]["flags"]["resets"].clone()),
        (json!("0.369000"), json!(1))
    );
    assert_eq!(after["bandwidth"], body["bandwidth"], "the ports did not change");
    assert_eq!(cache(http.clone(), server.url.clone()).await, (Some(1), Some(4)));
    // An inventory change is seen at once too: the site's PUE 1.35 -> 1.5 makes acme's facility
    // energy 0.369 x 1.5 = 0.5535 kWh.
    let site = json!({"name": "Amsterdam 1", "pue": "1.5", "grid_region": "NL"});
    let r = http.put(format!("{}/api/v1/sites/ams1", server.url)).bearer_auth(&admin).json(&site).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let (status, pue) = get(&http, &url("acme", window), Some(&billing)).await;
    assert_eq!(
        (status, pue["energy"]["it_kwh"].clone(), pue["energy"]["facility_kwh"].clone()),
        (200, json!("0.369000"), json!("0.553500"))
    );
    assert_eq!(cache(http.clone(), server.url.clone()).await, (Some(1), Some(5)));

    // Bad requests.
    let (status, p) = get(&http, &url("acme", "from=yesterday&to=2026-10-15T13:00:00Z"), Some(&admin)).await;
    assert_eq!((status, p["title"].clone()), (400, json!("Bad Request")));
    assert_eq!(
        get(&http, &url("acme", "from=2026-10-15T13:00:00Z&to=2026-10-15T11:00:00Z"), Some(&admin)).await.0,
        422
    );
    assert_eq!(get(&http, &url("acme", "from=2026-10-15T11:00:00Z"), Some(&admin)).await.0, 400);
    assert_eq!(
        get(&http, &url("acme", "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"), Some(&admin)).await.0,
        422
    );
}
