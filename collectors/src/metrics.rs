//! Self-monitoring: per device class (the profile ID) a poll-latency histogram (hdrhistogram)
//! and counts of polls, timeouts, bad responses, values read, missed cycles; the handoff's
//! pressure. Rendered as Prometheus text by the API's `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// One device class's figures.
#[derive(Clone)]
pub struct ClassStats {
    /// Poll latency in microseconds (1 µs to 10 min, 3 significant digits).
    pub latency_us: Histogram<u64>,
    /// Cycles that read their values.
    pub polls_ok: u64,
    /// Cycles that failed (timeout, bad responses, agent error, discovery failure).
    pub polls_failed: u64,
    /// Requests sent.
    pub requests: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts answered with garbage, a foreign request ID or the wrong varbinds.
    pub bad_responses: u64,
    /// Values read and handed to the store.
    pub values: u64,
    /// Cells the device no longer had.
    pub missing_values: u64,
    /// Values of the wrong type or out of range.
    pub bad_values: u64,
    /// Counters that went backwards without a reboot or discontinuity.
    pub counter_regressions: u64,
    /// Poll ticks skipped because the previous cycle ran over.
    pub missed_cycles: u64,
    /// Discoveries run.
    pub discoveries: u64,
}

impl Default for ClassStats {
    fn default() -> Self {
        Self {
            latency_us: latency_histogram(),
            polls_ok: 0,
            polls_failed: 0,
            requests: 0,
            timeouts: 0,
            bad_responses: 0,
            values: 0,
            missing_values: 0,
            bad_values: 0,
            counter_regressions: 0,
            missed_cycles: 0,
            discoveries: 0,
        }
    }
}

impl std::fmt::Debug for ClassStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassStats")
            .field("latency_p50_us", &self.latency_us.value_at_quantile(0.5))
            .field("latency_p99_us", &self.latency_us.value_at_quantile(0.99))
            .field("polls_ok", &self.polls_ok)
            .field("polls_failed", &self.polls_failed)
            .field("requests", &self.requests)
            .field("timeouts", &self.timeouts)
            .field("bad_responses", &self.bad_responses)
            .field("values", &self.values)
            .field("missing_values", &self.missing_values)
            .field("bad_values", &self.bad_values)
            .field("counter_regressions", &self.counter_regressions)
            .field("missed_cycles", &self.missed_cycles)
            .field("discoveries", &self.discoveries)
            .finish()
    }
}

/// 1 µs to 10 min at 3 significant digits.
#[allow(clippy::expect_used)]
fn latency_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// What one cycle adds to its class.
#[derive(Debug, Default, Clone, Copy)]
pub struct CycleReport {
    /// How long the cycle took (requests and discovery), if it ran.
    pub latency: Option<Duration>,
    /// Whether it read its values.
    pub ok: bool,
    /// Requests sent.
    pub requests: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Bad responses.
    pub bad_responses: u64,
    /// Values handed over.
    pub values: u64,
    /// Cells missing.
    pub missing_values: u64,
    /// Bad values.
    pub bad_values: u64,
    /// Counter regressions.
    pub counter_regressions: u64,
    /// Ticks missed after this cycle.
    pub missed_cycles: u64,
    /// Whether it discovered.
    pub discovered: bool,
}

/// A per-class counter: name, help, getter.
type Counter = (&'static str, &'static str, fn(&ClassStats) -> u64);

/// All collector metrics.
#[derive(Debug, Default)]
pub struct CollectorMetrics {
    classes: Mutex<BTreeMap<String, ClassStats>>,
    /// Times a poller found the handoff queue full and had to wait.
    pub queue_full_waits: AtomicU64,
    /// Batches waiting in the handoff queue.
    pub queue_batches: AtomicU64,
    /// Readings written to the store by the handoff.
    pub rows_written: AtomicU64,
    /// Store writes that failed (and were retried).
    pub write_errors: AtomicU64,
    /// Devices being polled.
    pub devices: AtomicU64,
}

impl CollectorMetrics {
    /// Adds a cycle's report to `class`.
    pub fn record(&self, class: &str, r: &CycleReport) {
        let Ok(mut map) = self.classes.lock() else { return };
        if !map.contains_key(class) {
            map.insert(class.to_owned(), ClassStats::default());
        }
        let Some(s) = map.get_mut(class) else { return };
        if let Some(l) = r.latency {
            let us = u64::try_from(l.as_micros()).unwrap_or(u64::MAX).max(1);
            s.latency_us.saturating_record(us);
        }
        if r.ok {
            s.polls_ok += 1;
        } else {
            s.polls_failed += 1;
        }
        s.requests += r.requests;
        s.timeouts += r.timeouts;
        s.bad_responses += r.bad_responses;
        s.values += r.values;
        s.missing_values += r.missing_values;
        s.bad_values += r.bad_values;
        s.counter_regressions += r.counter_regressions;
        s.missed_cycles += r.missed_cycles;
        s.discoveries += u64::from(r.discovered);
    }

    /// A copy of every class's figures.
    pub fn snapshot(&self) -> BTreeMap<String, ClassStats> {
        self.classes.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Prometheus text exposition.
    pub fn render(&self, out: &mut String) {
        let classes = self.snapshot();
        let _ = writeln!(out, "# HELP colometer_collector_poll_duration_seconds Poll cycle latency by device class.");
        let _ = writeln!(out, "# TYPE colometer_collector_poll_duration_seconds summary");
        for (c, s) in &classes {
            for q in [0.5, 0.9, 0.99, 1.0] {
                let v = s.latency_us.value_at_quantile(q) as f64 / 1e6;
                let _ =
                    writeln!(out, "colometer_collector_poll_duration_seconds{{class=\"{c}\",quantile=\"{q}\"}} {v}");
            }
            let _ = writeln!(
                out,
                "colometer_collector_poll_duration_seconds_count{{class=\"{c}\"}} {}",
                s.latency_us.len()
            );
        }
        let counters: [Counter; 11] = [
            ("colometer_collector_polls_total", "Poll cycles that read their values.", |s| s.polls_ok),
            ("colometer_collector_poll_failures_total", "Poll cycles that failed.", |s| s.polls_failed),
            ("colometer_collector_requests_total", "SNMP requests sent.", |s| s.requests),
            ("colometer_collector_timeouts_total", "SNMP attempts that timed out.", |s| s.timeouts),
            ("colometer_collector_bad_responses_total", "Malformed or foreign SNMP responses.", |s| s.bad_responses),
            ("colometer_collector_values_total", "Values read and handed to the store.", |s| s.values),
            ("colometer_collector_missing_values_total", "Polled cells the device no longer had.", |s| {
                s.missing_values
            }),
            ("colometer_collector_bad_values_total", "Values of the wrong type or out of range.", |s| s.bad_values),
            ("colometer_collector_counter_regressions_total", "Counters that went backwards without a reboot.", |s| {
                s.counter_regressions
            }),
            ("colometer_collector_missed_cycles_total", "Poll ticks skipped because a cycle ran over.", |s| {
                s.missed_cycles
            }),
            ("colometer_collector_discoveries_total", "Discoveries run.", |s| s.discoveries),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (c, s) in &classes {
                let _ = writeln!(out, "{name}{{class=\"{c}\"}} {}", get(s));
            }
        }
        let g = |o: &AtomicU64| o.load(Ordering::Relaxed);
        for (name, kind, help, v) in [
            (
                "colometer_collector_queue_full_waits_total",
                "counter",
                "Times a poller waited for the store handoff.",
                g(&self.queue_full_waits),
            ),
            (
                "colometer_collector_queue_batches",
                "gauge",
                "Batches waiting for the store writer.",
                g(&self.queue_batches),
            ),
            (
                "colometer_collector_rows_written_total",
                "counter",
                "Readings the collectors wrote to the store.",
                g(&self.rows_written),
            ),
            (
                "colometer_collector_write_errors_total",
                "counter",
                "Store writes that failed and were retried.",
                g(&self.write_errors),
            ),
            ("colometer_collector_devices", "gauge", "Devices being polled.", g(&self.devices)),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_renders() {
        let m = CollectorMetrics::default();
        let r = CycleReport {
            latency: Some(Duration::from_millis(12)),
            ok: true,
            requests: 3,
            values: 96,
            ..Default::default()
        };
        m.record("if-mib", &r);
        m.record("if-mib", &CycleReport { ok: false, timeouts: 3, ..Default::default() });
        let s = &m.snapshot()["if-mib"];
        assert_eq!((s.polls_ok, s.polls_failed, s.requests, s.timeouts, s.values), (1, 1, 3, 3, 96));
        assert_eq!(s.latency_us.len(), 1);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("colometer_collector_values_total{class=\"if-mib\"} 96\n"), "{out}");
        assert!(out.contains("colometer_collector_timeouts_total{class=\"if-mib\"} 3\n"));
    }
}
