//! The poll scheduler: one task per device, ticking at wall-clock multiples of its interval plus
//! a fixed per-device offset (spreading a fleet's requests over the interval), under one global
//! bound on concurrent polls. A slow or dead device only delays itself: its cycle is cut at the
//! interval, and ticks it overran are skipped and counted.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::clock::Clock;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::discovery::{self, Layout};
use crate::handoff::Handoff;
use crate::metrics::{CollectorMetrics, CycleReport};
use crate::poll::{self, LastCounters, MetricNames, Plan};
use crate::poll_error::PollError;
use crate::profile::{DeviceKind, Profiles};
use crate::snmp::{Credentials, Session, SnmpError, Target};
use crate::status::{DeviceStatus, StatusBoard};

/// A device to poll.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// Device ID (inventory).
    pub id: Arc<str>,
    /// PDU or switch.
    pub kind: DeviceKind,
    /// Host name or address.
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// Credentials.
    pub credentials: Credentials,
    /// Poll interval.
    pub interval_s: u32,
    /// Declared resources (empty: poll whatever is discovered).
    pub declared: HashSet<String>,
    /// A fingerprint of everything above, to notice changes.
    pub fingerprint: u64,
}

impl DeviceSpec {
    /// An SNMPv2c switch or PDU at `addr` with no declared resources (simulators, benches, tests).
    pub fn v2c(id: &str, kind: DeviceKind, community: &str, addr: std::net::SocketAddr, interval_s: u32) -> Self {
        Self {
            id: id.into(),
            kind,
            host: addr.ip().to_string(),
            port: addr.port(),
            credentials: Credentials::V2c(community.as_bytes().to_vec()),
            interval_s,
            declared: HashSet::new(),
            fingerprint: fingerprint(&(id, community, addr, interval_s)),
        }
    }
}

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Polls in flight at once, fleet-wide.
    pub max_concurrent_polls: usize,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries per request.
    pub retries: u32,
    /// Varbinds per GET.
    pub max_varbinds: usize,
    /// Rediscover this often (also after a reboot or a vanished cell).
    pub rediscover: Duration,
    /// The share of the interval over which device offsets are spread (0..=1).
    pub spread: f64,
    /// v1/v2c devices that keep their socket between polls (128 KiB each; the rest reopen).
    pub keep_sessions: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_concurrent_polls: 512,
            timeout: Duration::from_secs(2),
            retries: 2,
            max_varbinds: 40,
            rediscover: Duration::from_secs(3600),
            spread: 0.8,
            keep_sessions: 1024,
        }
    }
}

struct Shared {
    settings: Settings,
    profiles: Profiles,
    clock: Arc<dyn Clock>,
    handoff: Handoff,
    metrics: Arc<CollectorMetrics>,
    status: Arc<StatusBoard>,
    permits: Semaphore,
    keep: Arc<Semaphore>,
    names: MetricNames,
}

/// The running collectors.
pub struct Collectors {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: Mutex<HashMap<Arc<str>, (u64, CancellationToken)>>,
}

impl std::fmt::Debug for Collectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collectors").finish_non_exhaustive()
    }
}

/// A stable hash (FNV-1a) of a device ID: its offset within the interval.
fn offset_ns(id: &str, interval_ns: i64, spread: f64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let span = ((interval_ns as f64) * spread.clamp(0.0, 1.0)) as i64;
    if span <= 0 { 0 } else { i64::try_from(h % span.unsigned_abs()).unwrap_or(0) }
}

/// The first tick strictly after `now`: `k × interval + offset`.
pub fn next_tick(now_ns: i64, interval_ns: i64, offset: i64) -> i64 {
    let base = now_ns - offset;
    let k = base.div_euclid(interval_ns) + 1;
    k * interval_ns + offset
}

/// A fingerprint of a spec's polling-relevant fields.
pub fn fingerprint(parts: &impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl Collectors {
    /// Starts nothing yet; [`Collectors::apply`] sets the fleet.
    pub fn new(
        settings: Settings,
        profiles: Profiles,
        clock: Arc<dyn Clock>,
        handoff: Handoff,
        metrics: Arc<CollectorMetrics>,
        status: Arc<StatusBoard>,
        cancel: CancellationToken,
    ) -> Self {
        let permits = Semaphore::new(settings.max_concurrent_polls.max(1));
        let keep = Arc::new(Semaphore::new(settings.keep_sessions));
        let shared = Arc::new(Shared {
            settings,
            profiles,
            clock,
            handoff,
            metrics,
            status,
            permits,
            keep,
            names: MetricNames::default(),
        });
        Self { shared, cancel, tasks: Mutex::new(HashMap::new()) }
    }

    /// Polls exactly `specs` from now on: new devices start, changed ones restart, removed stop.
    /// Must be called within a tokio runtime.
    pub fn apply(&self, specs: Vec<DeviceSpec>) {
        let Ok(mut tasks) = self.tasks.lock() else { return };
        let wanted: HashSet<Arc<str>> = specs.iter().map(|s| Arc::clone(&s.id)).collect();
        tasks.retain(|id, (_, token)| {
            let keep = wanted.contains(id);
            if !keep {
                token.cancel();
                self.shared.status.remove(id);
            }
            keep
        });
        for spec in specs {
            if tasks.get(&spec.id).is_some_and(|(fp, _)| *fp == spec.fingerprint) {
                continue;
            }
            if let Some((_, old)) = tasks.remove(&spec.id) {
                old.cancel();
            }
            let token = self.cancel.child_token();
            tasks.insert(Arc::clone(&spec.id), (spec.fingerprint, token.clone()));
            let shared = Arc::clone(&self.shared);
            tokio::spawn(device_task(spec, shared, token));
        }
        self.shared.metrics.devices.store(tasks.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops every device task.
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

/// A device's poll state between cycles.
struct DeviceState {
    session: Option<Session>,
    layout: Option<(Arc<Layout>, Plan)>,
    discovered_at: Option<Instant>,
    stale: bool,
    last: LastCounters,
    last_uptime_s: Option<u64>,
}

async fn device_task(spec: DeviceSpec, shared: Arc<Shared>, cancel: CancellationToken) {
    let interval_ns = i64::from(spec.interval_s.max(1)) * 1_000_000_000;
    let offset = offset_ns(&spec.id, interval_ns, shared.settings.spread);
    let mut state = DeviceState {
        session: None,
        layout: None,
        discovered_at: None,
        stale: true,
        last: Vec::new(),
        last_uptime_s: None,
    };
    shared.status.insert(DeviceStatus::new(Arc::clone(&spec.id), spec.kind));
    let mut next = next_tick(shared.clock.now().as_nanos(), interval_ns, offset);
    loop {
        let wait = Duration::from_nanos(u64::try_from(next - shared.clock.now().as_nanos()).unwrap_or(0));
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let permit = tokio::select! {
            () = cancel.cancelled() => return,
            p = shared.permits.acquire() => match p { Ok(p) => p, Err(_) => return },
        };
        let started = Instant::now();
        let budget = Duration::from_nanos(interval_ns.unsigned_abs());
        let mut report = CycleReport::default();
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            r = tokio::time::timeout(budget.max(Duration::from_secs(1)), cycle(&spec, &shared, &mut state, &mut report)) => r,
        };
        drop(permit);
        report.latency = Some(started.elapsed());
        if let Some(s) = state.session.as_mut() {
            let c = s.take_counts();
            (report.requests, report.timeouts, report.bad_responses) = (c.requests, c.timeouts, c.bad_responses);
            s.idle();
        }
        let readings = match outcome {
            Ok(Ok(readings)) => {
                report.ok = true;
                readings
            }
            Ok(Err(e)) => {
                shared.status.failed(&spec.id, shared.clock.now(), e.clone());
                tracing::debug!(device = %spec.id, error = %e, kind = e.kind().as_str(), "poll failed");
                state.session = None;
                Vec::new()
            }
            Err(_) => {
                let e = PollError::Overran { interval_s: spec.interval_s };
                shared.status.failed(&spec.id, shared.clock.now(), e);
                state.session = None;
                Vec::new()
            }
        };
        report.values = readings.len() as u64;
        // Hand over first: a wait for the store counts against the device's next ticks.
        let closed = shared.handoff.send(readings).await.is_err();
        let now = shared.clock.now().as_nanos();
        next += interval_ns;
        if next <= now {
            let missed = (now - next) / interval_ns + 1;
            report.missed_cycles = missed.unsigned_abs();
            next += missed * interval_ns;
        }
        let class = state
            .layout
            .as_ref()
            .map_or_else(|| format!("undiscovered-{}", kind_name(spec.kind)), |(l, _)| l.profile.id.clone());
        shared.metrics.record(&class, &report);
        if closed {
            return;
        }
    }
}

fn kind_name(k: DeviceKind) -> &'static str {
    match k {
        DeviceKind::Pdu => "pdu",
        DeviceKind::Switch => "switch",
    }
}

/// One cycle: (re)discover when due, then read every cell.
async fn cycle(
    spec: &DeviceSpec,
    shared: &Shared,
    state: &mut DeviceState,
    report: &mut CycleReport,
) -> Result<Vec<engine::store::PendingReading>, PollError> {
    let session = match &mut state.session {
        Some(session) => session,
        slot @ None => {
            let addr = tokio::net::lookup_host((spec.host.as_str(), spec.port))
                .await
                .map_err(|e| PollError::Resolve { host: spec.host.to_string(), message: e.to_string() })?
                .next()
                .ok_or_else(|| PollError::NoAddress(spec.host.to_string()))?;
            let mut target = Target::new(addr, spec.credentials.clone());
            target.timeout = shared.settings.timeout;
            target.retries = shared.settings.retries;
            target.max_varbinds = shared.settings.max_varbinds;
            let first_id = i32::try_from(fingerprint(&(spec.id.as_ref(), shared.clock.now().as_nanos())) & 0x3fff_ffff)
                .unwrap_or(1);
            slot.insert(Session::new(target, first_id).with_keep_budget(Arc::clone(&shared.keep)))
        }
    };
    let due = state.stale || state.discovered_at.is_none_or(|t| t.elapsed() >= shared.settings.rediscover);
    let (layout, plan) = match &mut state.layout {
        Some(lp) if !due => &*lp,
        slot => {
            let layout = discovery::discover(session, &shared.profiles, spec.kind, Some(&spec.declared)).await?;
            report.discovered = true;
            let plan = Plan::new(&layout, shared.settings.max_varbinds);
            state.discovered_at = Some(Instant::now());
            state.stale = false;
            state.last.clear();
            &*slot.insert((Arc::new(layout), plan))
        }
    };
    let c =
        match poll::run(session, &spec.id, layout, plan, &shared.names, shared.clock.as_ref(), &mut state.last).await {
            Ok(c) => c,
            Err(e) => {
                // A v1 agent refuses a whole GET over one vanished cell (noSuchName): rediscover.
                if matches!(e, SnmpError::Agent { .. }) {
                    state.stale = true;
                }
                return Err(e.into());
            }
        };
    report.missing_values = c.missing;
    report.bad_values = c.bad_values;
    report.counter_regressions = c.regressions;
    // A reboot may renumber ifIndex; a vanished cell means the layout is out of date.
    let rebooted = matches!((state.last_uptime_s, c.uptime_s), (Some(a), Some(b)) if b < a);
    state.stale = c.missing > 0 || rebooted;
    state.last_uptime_s = c.uptime_s;
    shared.status.polled(&spec.id, shared.clock.now(), Arc::clone(layout), c.cells);
    Ok(c.readings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_align_to_the_interval_plus_offset() {
        let s = 1_000_000_000;
        assert_eq!(next_tick(25 * s, 10 * s, 0), 30 * s);
        assert_eq!(next_tick(30 * s, 10 * s, 0), 40 * s);
        assert_eq!(next_tick(25 * s, 10 * s, 3 * s), 33 * s);
        assert_eq!(next_tick(34 * s, 10 * s, 3 * s), 43 * s);
        let o = offset_ns("sw-core1", 10 * s, 0.8);
        assert!((0..8 * s).contains(&o));
        assert_eq!(o, offset_ns("sw-core1", 10 * s, 0.8));
        assert_eq!(offset_ns("x", 10 * s, 0.0), 0);
    }
}
