//! Line protocol parsing and checking. Field types follow `contract.md`: octet counters, uptime
//! and discontinuity are integers (`123u` or `123i`), energy and power are numbers. Extra tags
//! (Telegraf adds `host`) are ignored; an unknown measurement or field is a bad line. A line
//! without a timestamp takes the time the request arrived.

use std::sync::Arc;

use influxdb_line_protocol::{ParsedLine, parse_lines};
use scan::{Num, Scanned};

use super::known::{DeviceKind, KnownResources};
use crate::store::batch::WriteBatch;
use crate::store::reading::{Reading, SeriesId, SeriesKey, Value};
use crate::store::registry::{Lookup, metric_of};
use crate::store::{PendingReading, Store};
use crate::time::Timestamp;

/// The unit of line timestamps (`?precision=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (default).
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

impl Precision {
    /// Parses `ns`, `us`, `ms` or `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ns" | "n" => Self::Ns,
            "us" | "u" => Self::Us,
            "ms" => Self::Ms,
            "s" => Self::S,
            _ => return None,
        })
    }

    fn nanos(self, t: i64) -> Option<i64> {
        t.checked_mul(match self {
            Self::Ns => 1,
            Self::Us => 1_000,
            Self::Ms => 1_000_000,
            Self::S => 1_000_000_000,
        })
    }
}

/// The first bad line of a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

use crate::domain::metric::{self, INTEGER_FIELDS, OUTLET_FIELDS, PORT_FIELDS};

/// The metric names, allocated once for the process.
static METRICS: std::sync::LazyLock<Vec<Arc<str>>> =
    std::sync::LazyLock::new(|| PORT_FIELDS.iter().chain(OUTLET_FIELDS).copied().map(Arc::from).collect());

/// The shared name of a (checked) field.
fn metric_name(name: &str) -> Arc<str> {
    METRICS.iter().find(|m| &***m == name).cloned().unwrap_or_else(|| Arc::from(name))
}

fn integer(name: &str, v: Num) -> Result<u64, String> {
    match v {
        Num::U64(n) => Ok(n),
        Num::I64(n) if n >= 0 => Ok(n as u64),
        Num::I64(n) => Err(format!("field {name} must not be negative, found {n}")),
        _ => Err(format!("field {name} must be an integer (e.g. {name}=123u)")),
    }
}

fn number(name: &str, v: Num) -> Result<Value, String> {
    match v {
        Num::F64(f) => Value::from_f64(f).map_err(|e| format!("field {name}: {e}")),
        Num::I64(n) => Ok(Value::from_i64(n)),
        Num::U64(n) => Ok(Value::from_u64(n)),
        Num::Other => Err(format!("field {name} must be a number")),
    }
}

/// Which timestamps a write accepts: `[now - retention, now + 1 day)`. Older readings would be
/// dropped by retention at once, and a timestamp outside the window is nearly always a wrong
/// `?precision=`; both are refused rather than stored and lost or misdated.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The instant lines without a timestamp get, and the reference of the window.
    pub now: Timestamp,
    /// How far back readings are kept.
    pub retention_ns: i64,
}

/// How far ahead of the server's clock a device's clock may be.
pub const MAX_FUTURE_NS: i64 = 86_400 * 1_000_000_000;

/// Parses and checks a whole body into readings named by key.
pub fn parse(
    body: &str,
    precision: Precision,
    window: Window,
    known: &KnownResources,
) -> Result<Vec<PendingReading>, LineError> {
    let mut sink = Pending { out: Vec::with_capacity(reading_estimate(body)), last_device: None };
    parse_into(body, precision, window, known, &mut sink)?;
    Ok(sink.out)
}

/// Parses and checks a whole body into a write batch, resolving the series the registry knows as
/// it goes (one look-up per line, nothing allocated for a known series); the writer defines the
/// others. Accepts and refuses exactly what [`parse`] does.
pub fn parse_batch(
    body: &str,
    precision: Precision,
    window: Window,
    known: &KnownResources,
    store: &Store,
) -> Result<WriteBatch, LineError> {
    let mut sink = Batch { out: store.batch(reading_estimate(body)), lookup: store.registry().lookup_many() };
    parse_into(body, precision, window, known, &mut sink)?;
    Ok(sink.out)
}

/// Readings a body probably holds: most lines carry two fields (a port's two counters); growing
/// the vector by doubling copied every reading about twice.
fn reading_estimate(body: &str) -> usize {
    (body.bytes().filter(|&b| b == b'\n').count() + 1).saturating_mul(2)
}

fn parse_into(
    body: &str,
    precision: Precision,
    window: Window,
    known: &KnownResources,
    sink: &mut impl Sink,
) -> Result<(), LineError> {
    let mut scanned = Scanned::default();
    let mut values = Vec::new();
    for (i, raw) in body.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let checked = if scan::scan(line, &mut scanned) {
            check_line(&scanned, precision, window, known, &mut values).map(|c| sink.line(&c, &values))
        } else {
            // Left by the scanner: the crate (escapes, quotes, or its error message).
            match parse_lines(line).next() {
                Some(Ok(p)) => {
                    check_line(&from_crate(&p), precision, window, known, &mut values).map(|c| sink.line(&c, &values))
                }
                Some(Err(e)) => Err(e.to_string()),
                None => continue,
            }
        };
        checked.map_err(|message| LineError { line: i + 1, message })?;
    }
    Ok(())
}

/// A line that passed every check: where and when, and its fields are in the `values` beside it.
struct Checked<'l> {
    device: &'l str,
    resource: &'l str,
    ts: Timestamp,
    uptime_s: Option<u64>,
    discontinuity: Option<u64>,
}

impl Checked<'_> {
    fn reading(&self, series: SeriesId, value: Value) -> Reading {
        Reading { series, ts: self.ts, value, uptime_s: self.uptime_s, discontinuity: self.discontinuity }
    }
}

/// Where checked lines go.
trait Sink {
    /// A checked line and its `(metric, value)` fields.
    fn line(&mut self, line: &Checked<'_>, values: &[(&'static str, Value)]);
}

/// Readings by key ([`parse`]).
struct Pending {
    out: Vec<PendingReading>,
    /// A device's lines usually come together (a poll writes all its ports): its name is shared.
    last_device: Option<Arc<str>>,
}

impl Sink for Pending {
    fn line(&mut self, line: &Checked<'_>, values: &[(&'static str, Value)]) {
        let device: Arc<str> = match &self.last_device {
            Some(d) if &**d == line.device => Arc::clone(d),
            _ => Arc::from(line.device),
        };
        self.last_device = Some(Arc::clone(&device));
        let resource: Arc<str> = line.resource.into();
        for &(metric, value) in values {
            let key =
                SeriesKey { device: Arc::clone(&device), resource: Arc::clone(&resource), metric: metric_name(metric) };
            self.out.push(PendingReading {
                key,
                ts: line.ts,
                value,
                uptime_s: line.uptime_s,
                discontinuity: line.discontinuity,
            });
        }
    }
}

/// Readings by ID where the registry knows the series ([`parse_batch`]).
struct Batch<'r> {
    out: WriteBatch,
    lookup: Lookup<'r>,
}

impl Sink for Batch<'_> {
    fn line(&mut self, line: &Checked<'_>, values: &[(&'static str, Value)]) {
        let metrics = self.lookup.resource(line.device, line.resource);
        // The line's names, shared by its new series (made once, and only when one is new).
        let mut names: Option<(Arc<str>, Arc<str>)> = None;
        for &(metric, value) in values {
            match metrics.and_then(|m| metric_of(m, metric)) {
                Some(id) => self.out.push(line.reading(id, value)),
                None => {
                    let (device, resource) =
                        names.get_or_insert_with(|| (Arc::from(line.device), Arc::from(line.resource)));
                    let key = SeriesKey {
                        device: Arc::clone(device),
                        resource: Arc::clone(resource),
                        metric: metric_name(metric),
                    };
                    self.out.push_new(key, line.reading(SeriesId(0), value));
                }
            }
        }
    }
}

/// A line the crate parsed, in the scanner's terms.
fn from_crate<'p>(parsed: &'p ParsedLine<'_>) -> Scanned<'p> {
    Scanned {
        measurement: parsed.series.measurement.as_str(),
        tags: parsed.series.tag_set.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        fields: parsed.field_set.iter().map(|(k, v)| (k.as_str(), Num::from(v))).collect(),
        timestamp: parsed.timestamp,
    }
}

/// Checks a line against the contract and the inventory; its fields go to `values`.
fn check_line<'l>(
    line: &Scanned<'l>,
    precision: Precision,
    window: Window,
    known: &KnownResources,
    values: &mut Vec<(&'static str, Value)>,
) -> Result<Checked<'l>, String> {
    let measurement = line.measurement;
    let (kind, resource_tag, fields) = match measurement {
        "port_counters" => (DeviceKind::Switch, "port", PORT_FIELDS),
        "outlet" => (DeviceKind::Pdu, "outlet", OUTLET_FIELDS),
        other => return Err(format!("unknown measurement '{other}' (expected port_counters or outlet)")),
    };
    let tag = |name: &str| line.tags.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let device = tag("device").ok_or("tag device is required")?;
    let resource = tag(resource_tag).ok_or_else(|| format!("tag {resource_tag} is required"))?;
    if kind == DeviceKind::Pdu && !resource.parse::<u32>().is_ok_and(|n| n > 0) {
        return Err(format!("tag outlet must be the outlet's index (1, 2, ...), found '{resource}'"));
    }
    known.check(kind, device, resource)?;
    let ts = match line.timestamp {
        Some(t) => Timestamp::from_nanos(precision.nanos(t).ok_or_else(|| format!("timestamp {t} is out of range"))?),
        None => window.now,
    };
    let now = window.now.as_nanos();
    if ts.as_nanos() < now.saturating_sub(window.retention_ns) {
        return Err(format!(
            "timestamp {ts} is older than the retention period ({} days): is ?precision= right?",
            window.retention_ns / 86_400_000_000_000
        ));
    }
    if ts.as_nanos() >= now.saturating_add(MAX_FUTURE_NS) {
        return Err(format!("timestamp {ts} is more than a day ahead of the server's clock: is ?precision= right?"));
    }
    values.clear();
    for &(name, _) in &line.fields {
        let Some(&metric) = fields.iter().find(|f| **f == name) else {
            return Err(format!("unknown field '{name}' for {measurement} (expected: {})", fields.join(", ")));
        };
        values.push((metric, Value(0)));
    }
    let field = |name: &str| line.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let uptime_s = field(metric::UPTIME_S).map(|v| integer(metric::UPTIME_S, v)).transpose()?;
    let discontinuity = field(metric::DISCONTINUITY).map(|v| integer(metric::DISCONTINUITY, v)).transpose()?;
    for ((metric, value), &(_, v)) in values.iter_mut().zip(&line.fields) {
        *value =
            if INTEGER_FIELDS.contains(metric) { Value::from_u64(integer(metric, v)?) } else { number(metric, v)? };
    }
    Ok(Checked { device, resource, ts, uptime_s, discontinuity })
}

mod scan;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{document, import, source};

    fn window(now_s: i64) -> Window {
        Window { now: Timestamp::from_secs(now_s), retention_ns: 400 * 86_400_000_000_000 }
    }

    fn store(dir: &std::path::Path) -> Store {
        let clock = std::sync::Arc::new(crate::clock::FixedClock::new(Timestamp::from_secs(100)));
        Store::open(dir, crate::store::StoreConfig::default(), clock).unwrap().0
    }

    fn known() -> KnownResources {
        let tree = source::parse_yaml(include_str!("../../../deploy/inventory.example.yaml")).unwrap();
        let inv = import::plan(&Default::default(), document::read(&tree)).unwrap().result;
        KnownResources::from_inventory(&inv)
    }

    #[test]
    fn the_contract_lines_parse_exactly() {
        let body = "port_counters,device=sw-core1,port=Gi1/0/1 in_octets=123456u,out_octets=654321u,uptime_s=86400u 1791763200000000000\n\
                    outlet,device=pdu-101a,outlet=1 energy_wh=152340.5,power_w=412.5 1791763200000000000\n";
        let rs = parse(body, Precision::Ns, window(1_791_763_300), &known()).unwrap();
        let got: Vec<(String, String, String, i64, String, Option<u64>)> = rs
            .iter()
            .map(|r| {
                (
                    r.key.device.to_string(),
                    r.key.resource.to_string(),
                    r.key.metric.to_string(),
                    r.ts.as_nanos(),
                    r.value.to_string(),
                    r.uptime_s,
                )
            })
            .collect();
        let ts = 1_791_763_200_000_000_000;
        let s = |x: &str| x.to_owned();
        assert_eq!(
            got,
            vec![
                (s("sw-core1"), s("Gi1/0/1"), s("in_octets"), ts, s("123456"), Some(86400)),
                (s("sw-core1"), s("Gi1/0/1"), s("out_octets"), ts, s("654321"), Some(86400)),
                (s("sw-core1"), s("Gi1/0/1"), s("uptime_s"), ts, s("86400"), Some(86400)),
                (s("pdu-101a"), s("1"), s("energy_wh"), ts, s("152340.5"), None),
                (s("pdu-101a"), s("1"), s("power_w"), ts, s("412.5"), None),
            ]
        );
        // ifOperStatus, as the collectors store it (an addition to the contract's fields).
        let oper = "port_counters,device=sw-core1,port=Gi1/0/1 oper_status=2i 1791763200000000000";
        let rs = parse(oper, Precision::Ns, window(1_791_763_300), &known()).unwrap();
        assert_eq!((&*rs[0].key.metric, rs[0].value.to_string()), ("oper_status", s("2")));
        let e = parse(&oper.replace("2i", "-2i"), Precision::Ns, window(1_791_763_300), &known()).unwrap_err();
        assert_eq!(e.to_string(), "line 1: field oper_status must not be negative, found -2");
    }

    #[test]
    fn a_batch_holds_what_parse_returns_with_known_series_resolved_while_parsing() {
        let body = "port_counters,device=sw-core1,port=Gi1/0/1 in_octets=1u,out_octets=2u,uptime_s=3u 1791763200000000000\n\
                    outlet,device=pdu-101a,outlet=1 energy_wh=4.5,power_w=6 1791763200000000000\n\
                    port_counters,device=sw-core1,port=Gi1/0/1 in_octets=7u 1791763210000000000\n";
        let (w, k) = (window(1_791_763_300), known());
        let pending = parse(body, Precision::Ns, w, &k).unwrap();
        // The registry knows the port's out_octets and the outlet's power only.
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let reg = store.registry();
        reg.allocate(&[&pending[4].key, &pending[1].key]).unwrap();
        let batch = parse_batch(body, Precision::Ns, w, &k, &store).unwrap();
        assert_eq!(batch.len(), 6);
        let resolved = batch.resolve(reg).unwrap();
        let ids: Vec<u32> = resolved.iter().map(|r| r.series.0).collect();
        // Known: 1 (out) and 0 (power); new in order of appearance: in 2, uptime 3, energy 4.
        assert_eq!(ids, vec![2, 1, 3, 4, 0, 2]);
        for (r, p) in resolved.iter().zip(&pending) {
            assert_eq!(reg.key(r.series).as_ref(), Some(&p.key));
            assert_eq!((r.ts, r.value, r.uptime_s, r.discontinuity), (p.ts, p.value, p.uptime_s, p.discontinuity));
        }
    }

    #[test]
    fn precision_and_missing_timestamps() {
        let body = "outlet,device=pdu-101a,outlet=1 power_w=1 1791763200\noutlet,device=pdu-101a,outlet=1 power_w=2";
        let rs = parse(body, Precision::S, window(1_791_763_242), &known()).unwrap();
        assert_eq!(rs[0].ts.as_nanos(), 1_791_763_200_000_000_000);
        assert_eq!(rs[1].ts, Timestamp::from_secs(1_791_763_242));
        // Seconds sent as nanoseconds land in 1970: refused, not stored and lost to retention.
        let err = parse(
            "outlet,device=pdu-101a,outlet=1 power_w=1 1791763200",
            Precision::Ns,
            window(1_791_763_242),
            &known(),
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "line 1: timestamp 1970-01-01T00:00:01.791763200Z is older than the retention period (400 days): is ?precision= right?"
        );
        let err = parse(
            "outlet,device=pdu-101a,outlet=1 power_w=1 1791763200",
            Precision::Ms,
            window(1_791_763_242),
            &known(),
        );
        assert!(err.unwrap_err().message.contains("older than the retention period"));
        let err = parse(
            "outlet,device=pdu-101a,outlet=1 power_w=1 1791900000",
            Precision::S,
            window(1_791_763_242),
            &known(),
        );
        assert_eq!(
            err.unwrap_err().message,
            "timestamp 2026-10-13T14:00:00Z is more than a day ahead of the server's clock: is ?precision= right?"
        );
    }

    #[test]
    fn the_first_bad_line_is_named() {
        let k = known();
        let ok = "outlet,device=pdu-101a,outlet=1 power_w=1 1\n";
        let cases = [
            ("\n# comment\nport_counters,device=sw-9,port=Gi1/0/1 in_octets=1u 1", "line 4: unknown switch 'sw-9'"),
            ("port_counters,device=sw-core1,port=Gi9 in_octets=1u 1", "line 2: switch 'sw-core1' has no port 'Gi9'"),
            ("outlet,device=pdu-101a,outlet=2 power_w=1 1", "line 2: PDU 'pdu-101a' has no outlet '2'"),
            (
                "outlet,device=pdu-101a,outlet=a power_w=1 1",
                "line 2: tag outlet must be the outlet's index (1, 2, ...), found 'a'",
            ),
            (
                "port_counters,device=sw-core1,port=Gi1/0/1 in_octets=1.5 1",
                "line 2: field in_octets must be an integer (e.g. in_octets=123u)",
            ),
            (
                "port_counters,device=sw-core1,port=Gi1/0/1 in_octets=-1i 1",
                "line 2: field in_octets must not be negative, found -1",
            ),
            (
                "outlet,device=pdu-101a,outlet=1 volts=230 1",
                "line 2: unknown field 'volts' for outlet (expected: energy_wh, power_w, uptime_s)",
            ),
            ("cpu,host=a usage=1 1", "line 2: unknown measurement 'cpu' (expected port_counters or outlet)"),
            ("outlet,outlet=1 power_w=1 1", "line 2: tag device is required"),
        ];
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        for (bad, want) in cases {
            let body = format!("{ok}{bad}\n{ok}");
            assert_eq!(parse(&body, Precision::S, window(100), &k).unwrap_err().to_string(), want, "{bad}");
            let batch = parse_batch(&body, Precision::S, window(100), &k, &store);
            assert_eq!(batch.unwrap_err().to_string(), want, "{bad}");
        }
        let err = parse("outlet,device=pdu-101a,outlet=1 power_w=", Precision::S, window(100), &k).unwrap_err();
        assert_eq!(err.line, 1);
    }
}
