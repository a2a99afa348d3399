//! `GET /api/v1/cluster` (admin, #23): the cluster as this node sees it: live nodes per role,
//! each shard's lease holder, committed progress and consumer lag. `404` off cluster mode.
//!
//! Readings where #23 is silent, and how: lag is the batches of a shard not yet acknowledged by
//! its owner (undelivered, or delivered and not yet committed), asked of the log at most 16
//! shards at a time; a shard whose lag cannot be read in 5 s shows `null`, so a slow log never
//! makes the page fail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use engine::catalog::postgres::lease::{Lease, LeaseKind, ShardProgress};
use engine::cluster::membership;
use engine::store::log::Shard;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{Allow, Caller};
use crate::cluster::ClusterView;
use crate::error::ApiError;

/// The cluster route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/cluster", get(cluster))
}

const LAG_CONCURRENCY: usize = 16;
const LAG_TIMEOUT: Duration = Duration::from_secs(5);

#[utoipa::path(get, path = "/api/v1/cluster", tag = "operations", responses((status = 200, description = "Nodes, shard leases, progress and lag", body = Object), (status = 404, description = "Not in cluster mode")))]
async fn cluster(State(view): State<Option<Arc<ClusterView>>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(&[Allow::Admin])?;
    let view = view.ok_or(ApiError::NotFound)?;
    let v = Arc::clone(&view);
    let (members, leases, progress) = tokio::task::spawn_blocking(move || {
        Ok::<_, engine::catalog::postgres::lease::LeaseError>((
            membership::members(&v.leases)?,
            v.leases.live_leases(LeaseKind::Shard)?,
            v.leases.shard_progress()?,
        ))
    })
    .await
    .map_err(|e| ApiError::internal_in("cluster status task", e))?
    .map_err(|e| ApiError::Unavailable(format!("the catalog does not answer: {e}")))?;
    let lag = lags(&view).await;
    Ok(Json(document(&view, &members, &leases, &progress, &lag)))
}

async fn lags(view: &ClusterView) -> BTreeMap<u32, Option<u64>> {
    futures::stream::iter(0..view.config.shards)
        .map(|s| async move {
            let lag = tokio::time::timeout(LAG_TIMEOUT, view.log.pending(Shard(s))).await;
            (s, lag.ok().and_then(Result::ok).flatten())
        })
        .buffer_unordered(LAG_CONCURRENCY)
        .collect()
        .await
}

fn document(
    view: &ClusterView,
    members: &[(String, String)],
    leases: &[Lease],
    progress: &[ShardProgress],
    lag: &BTreeMap<u32, Option<u64>>,
) -> Value {
    let by_shard: BTreeMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let done: BTreeMap<&str, &ShardProgress> = progress.iter().map(|p| (p.shard.as_str(), p)).collect();
    let shards: Vec<Value> = (0..view.config.shards)
        .map(|s| {
            let key = s.to_string();
            let lease = by_shard.get(key.as_str());
            let p = done.get(key.as_str());
            json!({
                "shard": s,
                "holder": lease.map(|l| l.holder.as_str()),
                "epoch": lease.map(|l| l.epoch.get()),
                "lease_expires": lease.map(|l| l.expires.to_string()),
                "covered_seq": p.map_or(0, |p| p.covered_seq),
                "last_commit": p.and_then(|p| p.committed).map(|t| t.to_string()),
                "segments": p.map_or(0, |p| p.segments),
                "rows": p.map_or(0, |p| p.rows),
                "lag_batches": lag.get(&s).copied().flatten(),
            })
        })
        .collect();
    let nodes: BTreeMap<&str, Vec<&str>> = members.iter().fold(BTreeMap::new(), |mut m, (role, node)| {
        m.entry(node.as_str()).or_insert_with(Vec::new).push(role.as_str());
        m
    });
    json!({
        "node": view.config.node_id,
        "roles": view.config.roles,
        "shard_count": view.config.shards,
        "nodes": nodes.iter().map(|(n, r)| json!({"node": n, "roles": r})).collect::<Vec<_>>(),
        "shards": shards,
    })
}
