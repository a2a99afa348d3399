//! `GET /metrics`: Prometheus text, names `colometer_<what>_<unit>`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::{AppState, IngestState, MeteringState};
use crate::cluster::ClusterView;
use crate::collect::CollectorView;

/// The metrics route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
async fn metrics(
    State(metering): State<MeteringState>,
    State(ingest): State<IngestState>,
    State(collectors): State<Option<CollectorView>>,
    State(cluster): State<Option<std::sync::Arc<ClusterView>>>,
) -> impl IntoResponse {
    let mut e = Exposition(String::new());
    store_metrics(&mut e, &metering);
    bucket_metrics(&mut e, &metering);
    cache_and_tee_metrics(&mut e, &metering, &ingest);
    if let Some(c) = &cluster {
        cluster_metrics(&mut e, c);
    }
    let mut out = e.0;
    if let Some(col) = &collectors {
        col.metrics.render(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// The text exposition being written.
struct Exposition(String);

impl Exposition {
    fn put(&mut self, name: &str, kind: &str, help: &str, value: String) {
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    }
}

fn c(a: &std::sync::atomic::AtomicU64) -> String {
    a.load(Ordering::Relaxed).to_string()
}

fn store_metrics(e: &mut Exposition, metering: &MeteringState) {
    let m = metering.store.metrics();
    e.put("colometer_store_rows_written_total", "counter", "Readings acknowledged.", c(&m.rows_written));
    e.put("colometer_store_writes_total", "counter", "Write requests acknowledged.", c(&m.writes));
    e.put(
        "colometer_store_write_errors_total",
        "counter",
        "Write requests refused by a WAL or disk failure.",
        c(&m.write_errors),
    );
    e.put("colometer_store_wal_syncs_total", "counter", "WAL fsyncs (one per group commit).", c(&m.wal_syncs));
    e.put("colometer_store_wal_bytes_total", "counter", "Bytes appended to the WAL.", c(&m.wal_bytes));
    e.put("colometer_store_checkpoints_total", "counter", "Checkpoints completed.", c(&m.checkpoints));
    e.put(
        "colometer_store_flush_errors_total",
        "counter",
        "Checkpoints or maintenance runs that failed.",
        c(&m.flush_errors),
    );
    e.put("colometer_store_compactions_total", "counter", "Partition compactions completed.", c(&m.compactions));
    e.put("colometer_store_retention_drops_total", "counter", "Segments dropped by retention.", c(&m.retention_drops));
    e.put("colometer_store_corruptions_total", "counter", "Corrupt segments or WAL files found.", c(&m.corruptions));
    let waited = m.backpressure_ns.load(Ordering::Relaxed) as f64 / 1e9;
    e.put(
        "colometer_store_backpressure_seconds_total",
        "counter",
        "Time writers waited for buffer space.",
        format!("{waited}"),
    );
    e.put(
        "colometer_store_buffered_rows",
        "gauge",
        "Readings in memory, not yet in segments.",
        metering.store.buffered_rows().to_string(),
    );
    e.put("colometer_store_series", "gauge", "Known series.", metering.store.registry().len().to_string());
    e.put(
        "colometer_store_segments",
        "gauge",
        "Live Parquet segments.",
        metering.store.manifest().segments.len().to_string(),
    );
}

fn bucket_metrics(e: &mut Exposition, metering: &MeteringState) {
    let b = &metering.buckets.metrics;
    e.put(
        "colometer_bucket_table_samples_applied_total",
        "counter",
        "Port counter samples applied in order to the 5-minute bucket table.",
        c(&b.applied),
    );
    e.put(
        "colometer_bucket_table_samples_late_total",
        "counter",
        "Late or rewritten port counter samples (their range is rebuilt from raw readings).",
        c(&b.late),
    );
    e.put(
        "colometer_bucket_table_rebuilds_total",
        "counter",
        "Bucket ranges rebuilt from raw readings.",
        c(&b.rebuilds),
    );
    e.put(
        "colometer_bucket_table_bad_values_total",
        "counter",
        "Port counter samples that are not non-negative integers (ignored).",
        c(&b.bad_values),
    );
    e.put(
        "colometer_bucket_table_bytes",
        "gauge",
        "Memory of the 5-minute buckets held: the open months' (and closed months' waiting to be archived).",
        u64::try_from(b.bytes.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(0).to_string(),
    );
    if let Some(a) = metering.buckets.archive() {
        e.put(
            "colometer_bucket_archive_bytes",
            "gauge",
            "Bytes of the closed months' bucket files.",
            a.bytes().to_string(),
        );
        e.put("colometer_bucket_archive_months", "gauge", "Closed months archived.", a.months().len().to_string());
        e.put(
            "colometer_bucket_archive_cache_bytes",
            "gauge",
            "Memory of archived buckets decoded for reads of closed months.",
            a.cache_bytes().to_string(),
        );
        e.put(
            "colometer_bucket_archive_months_written_total",
            "counter",
            "Month files written to the bucket archive (a month closing, late data in a closed month).",
            c(&a.months_written),
        );
        e.put(
            "colometer_bucket_archive_row_groups_decoded_total",
            "counter",
            "Row groups of archived months decoded (reads the cache did not answer).",
            c(&a.decoded_row_groups),
        );
    }
    e.put(
        "colometer_bucket_table_lag_batches",
        "gauge",
        "Committed write batches the bucket table has not applied yet.",
        metering.store.observer_lag().to_string(),
    );
}

fn cache_and_tee_metrics(e: &mut Exposition, metering: &MeteringState, ingest: &IngestState) {
    let u = &metering.usage_cache;
    e.put("colometer_usage_cache_hits_total", "counter", "Usage requests answered with a kept object.", c(&u.hits));
    e.put("colometer_usage_cache_misses_total", "counter", "Usage requests computed.", c(&u.misses));
    e.put("colometer_usage_cache_objects", "gauge", "Usage objects kept.", u.len().to_string());
    if let Some(tee) = &ingest.tee {
        let t = &tee.metrics;
        e.put(
            "colometer_questdb_sent_rows_total",
            "counter",
            "Readings QuestDB accepted from the tee.",
            c(&t.sent_rows),
        );
        e.put(
            "colometer_questdb_dropped_rows_total",
            "counter",
            "Readings the tee dropped (buffer full).",
            c(&t.dropped_rows),
        );
        e.put("colometer_questdb_errors_total", "counter", "Failed sends to QuestDB (retried).", c(&t.errors));
        e.put("colometer_questdb_queued_rows", "gauge", "Readings waiting for QuestDB.", c(&t.queued_rows));
    }
}

/// Cluster mode (#23): what this node's roles have done; lease changes as counters.
fn cluster_metrics(e: &mut Exposition, view: &ClusterView) {
    if let Some(f) = &view.follow {
        e.put(
            "colometer_cluster_follow_segments_total",
            "counter",
            "Committed segments copied into this serve node's store.",
            c(&f.segments),
        );
        e.put("colometer_cluster_follow_rows_total", "counter", "Readings copied from them.", c(&f.rows));
        e.put("colometer_cluster_follow_errors_total", "counter", "Follow passes that failed (retried).", c(&f.errors));
        let latest = f.latest_ns.load(Ordering::Relaxed);
        e.put(
            "colometer_cluster_follow_latest_reading_seconds",
            "gauge",
            "Unix time of the latest reading copied (0: none yet).",
            format!("{:.3}", latest as f64 / 1e9),
        );
    }
    if let Some(i) = &view.ingest {
        e.put(
            "colometer_cluster_ingest_segments_total",
            "counter",
            "Segments this ingest node committed.",
            c(&i.segments),
        );
        e.put("colometer_cluster_ingest_rows_total", "counter", "Readings in them.", c(&i.rows));
        e.put(
            "colometer_cluster_shard_leases_claimed_total",
            "counter",
            "Shard leases this node claimed.",
            c(&i.claimed),
        );
        e.put(
            "colometer_cluster_shard_leases_lost_total",
            "counter",
            "Shard leases this node lost (fenced or expired).",
            c(&i.lost),
        );
        e.put("colometer_cluster_shards_held", "gauge", "Shards this node holds.", c(&i.held));
    }
    if let Some(d) = &view.devices {
        e.put(
            "colometer_cluster_devices_held",
            "gauge",
            "Devices this collect node holds leases on.",
            d.held().to_string(),
        );
    }
}
