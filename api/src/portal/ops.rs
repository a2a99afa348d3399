//! The operator dashboard (admin, billing): per site and rack the power budget, committed and
//! measured power and stranded capacity; free switch ports; reconciliation findings; collector
//! health (failing devices first, poll latency percentiles per device class); billing runs and
//! invoices by state; the customers, each linking to its pages.
//!
//! Capacity is this UTC month so far (`engine::capacity::report`); a port is free when no
//! service holds it now; ports are the discovered ones (declared ones before the first poll).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use collectors::profile::Role as ResourceRole;
use engine::domain::ResourceRef;
use engine::period::BillingPeriod;
use engine::time::Timestamp;
use minijinja::{Value, context};

use super::{Page, nav, page, who};
use crate::app::{CatalogState, MeteringState, PortalState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::collect::CollectorView;
use crate::error::ApiError;

/// Free ports listed by name per switch (the count is always shown).
const FREE_PORT_NAMES: usize = 16;

/// How old a capacity report may be before a page asks for a fresh one.
pub const CAPACITY_FRESH: Duration = Duration::from_secs(60);

struct Cached {
    period: String,
    at: Instant,
    as_of: Timestamp,
    report: Arc<engine::capacity::Report>,
}

/// The month's capacity report, kept for [`CAPACITY_FRESH`]: it reads the month's raw energy of
/// every outlet (about half a second for the demo's 24 PDUs), which a dashboard page must not
/// wait for. A stale report is served at once while one task computes the next; only the very
/// first request (or a new month's) waits. The page shows the report's time.
#[derive(Default)]
pub struct CapacityCache {
    cached: Mutex<Option<Cached>>,
    refreshing: AtomicBool,
}

impl std::fmt::Debug for CapacityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapacityCache").finish_non_exhaustive()
    }
}

impl CapacityCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The report of `period` (`YYYY-MM`, UTC) and when it was computed.
    pub async fn get(
        self: &Arc<Self>,
        metering: &MeteringState,
        clock: &SharedClock,
        period: &str,
    ) -> Result<(Arc<engine::capacity::Report>, Timestamp), ApiError> {
        let hit = self.lock().as_ref().filter(|c| c.period == period).map(|c| (Arc::clone(&c.report), c.as_of, c.at));
        match hit {
            Some((report, as_of, at)) => {
                if at.elapsed() > CAPACITY_FRESH && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let (cache, metering, clock) = (Arc::clone(self), metering.clone(), Arc::clone(clock));
                    let period = period.to_owned();
                    tokio::spawn(async move {
                        if let Err(e) = cache.refresh(&metering, &clock, &period).await {
                            tracing::warn!(error = %e, "capacity report refresh failed");
                        }
                        cache.refreshing.store(false, Ordering::Release);
                    });
                }
                Ok((report, as_of))
            }
            None => self.refresh(metering, clock, period).await,
        }
    }

    /// Computes the report of `period` now and keeps it.
    pub async fn refresh(
        &self,
        metering: &MeteringState,
        clock: &SharedClock,
        period: &str,
    ) -> Result<(Arc<engine::capacity::Report>, Timestamp), ApiError> {
        let p = BillingPeriod::parse(period).map_err(ApiError::internal)?;
        let derived = metering.derived().await?;
        let as_of = clock.now();
        let report = metering
            .metered(derived, "capacity", move |src| engine::capacity::report(src, p))
            .await?
            .map_err(ApiError::internal)?;
        let report = Arc::new(report);
        *self.lock() =
            Some(Cached { period: period.to_owned(), at: Instant::now(), as_of, report: Arc::clone(&report) });
        Ok((report, as_of))
    }
}

/// Each switch's ports no service holds at `now`: of the ports discovered on it when the
/// collectors have walked it, else of those the inventory lists.
fn free_ports(
    inv: &engine::inventory::Inventory,
    collectors: &Option<CollectorView>,
    now: engine::time::Timestamp,
) -> Vec<Value> {
    let held: BTreeSet<(String, String)> = inv
        .services
        .values()
        .flat_map(|s| inv.effective_assignments(s))
        .filter(|(_, iv)| iv.contains(now))
        .filter_map(|(r, _)| match r {
            ResourceRef::Port(p) => Some((p.switch.to_string(), p.name.to_string())),
            _ => None,
        })
        .collect();
    let status = collectors.as_ref().map(|c| &c.status);
    inv
        .switches
        .values()
        .map(|sw| {
            let discovered: Option<Vec<String>> = status.and_then(|b| b.get(sw.id.as_str())).and_then(|s| {
                s.layout.as_ref().map(|l| {
                    l.resources.iter().filter(|r| r.role == ResourceRole::Port).map(|r| r.id.to_string()).collect()
                })
            });
            let ports = discovered.unwrap_or_else(|| sw.ports.iter().map(|p| p.name.to_string()).collect());
            let free: Vec<&String> =
                ports.iter().filter(|p| !held.contains(&(sw.id.to_string(), (*p).clone()))).collect();
            let names: Vec<&String> = free.iter().take(FREE_PORT_NAMES).copied().collect();
            context! { switch => sw.id.to_string(), total => ports.len(), free => free.len(), names, more => free.len() > FREE_PORT_NAMES }
        })
        .collect()
}

/// `GET /portal/ops`.
pub async fn dashboard(
    State(catalog): State<CatalogState>,
    State(metering): State<MeteringState>,
    State(portal): State<PortalState>,
    State(clock): State<SharedClock>,
    State(collectors): State<Option<CollectorView>>,
    caller: Result<Caller, ApiError>,
) -> Page {
    let caller = caller?;
    caller.require(&[Allow::Admin, Allow::Billing])?;
    let derived = metering.derived().await?;
    let now = clock.now();
    let period = now.to_datetime().format("%Y-%m").to_string();
    let (report, as_of) = portal.capacity.get(&metering, &clock, &period).await?;
    let inv = &derived.inventory;

    let mut sites: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in &report.racks {
        let site = inv.racks.get(&r.rack).map_or_else(|| "(no site)".to_owned(), |x| x.site.to_string());
        sites.entry(site).or_default().push(Value::from_serialize(r));
    }
    let sites: Vec<Value> = sites
        .into_iter()
        .map(|(id, racks)| {
            let name = inv.sites.values().find(|s| s.id.as_str() == id).map(|s| s.name.clone());
            context! { id, name, racks }
        })
        .collect();

    let free_ports = free_ports(inv, &collectors, now);

    let findings = engine::reconcile::reconcile(inv, now);

    let mut devices: Vec<Value> = Vec::new();
    let mut failing = 0usize;
    let mut classes: Vec<Value> = Vec::new();
    if let Some(c) = &collectors {
        let mut all = c.status.all();
        all.sort_by(|a, b| b.consecutive_failures.cmp(&a.consecutive_failures).then(a.id.cmp(&b.id)));
        for s in all {
            let state_name = if s.consecutive_failures > 0 {
                failing += 1;
                "failing"
            } else if s.last_poll.is_some() {
                "ok"
            } else {
                "waiting"
            };
            devices.push(context! {
                id => s.id.to_string(), state => state_name,
                profile => s.layout.as_ref().map(|l| l.profile.id.clone()),
                last_poll => s.last_poll.map(|t| t.to_string()),
                failures => s.consecutive_failures,
                error => s.last_error.as_ref().map(|(t, e)| format!("{t}: {e}")),
            });
        }
        for (class, st) in c.metrics.snapshot() {
            let ms = |q: f64| format!("{:.1}", st.latency_us.value_at_quantile(q) as f64 / 1000.0);
            classes.push(context! {
                class, polls_ok => st.polls_ok, polls_failed => st.polls_failed, timeouts => st.timeouts,
                p50 => ms(0.5), p90 => ms(0.9), p99 => ms(0.99),
            });
        }
    }

    // Newest first.
    let runs = catalog.ledger(|c| c.billing_runs()).await?;
    let runs: Vec<Value> = runs
        .iter()
        .take(10)
        .map(|r| context! { id => r.id.to_string(), period => r.period.clone(), at => r.at.to_string(), actor => r.actor.clone(), invoices => r.invoices.len() })
        .collect();
    let by_status: BTreeMap<String, u64> = catalog.ledger(|c| c.invoice_counts()).await?.into_iter().collect();
    let customers: Vec<Value> =
        inv.customers.values().map(|c| context! { id => c.id.to_string(), name => c.name.clone() }).collect();
    page(
        "ops.html",
        context! {
            title => "Operations", period => report.period.clone(), now => now.to_string(), as_of => as_of.to_string(),
            sites, free_ports, findings => Value::from_serialize(&findings), devices, failing, classes,
            collecting => collectors.is_some(), runs, by_status, customers,
            who => who(&caller), nav => nav(&caller, None, "ops"),
        },
    )
}
