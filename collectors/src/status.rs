//! What the collectors know of each device right now: profile, last poll, last error and the
//! latest value of every polled cell. Read by the API (`GET /api/v1/devices/{id}`) and the
//! operator dashboard.

use crate::poll_error::PollError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use engine::store::reading::Value;
use engine::time::Timestamp;

use crate::discovery::Layout;
use crate::profile::DeviceKind;

/// One device's state.
#[derive(Debug, Clone)]
pub struct DeviceStatus {
    /// Device ID.
    pub id: Arc<str>,
    /// PDU or switch.
    pub kind: DeviceKind,
    /// The discovered layout (profile, sysObjectID, resources).
    pub layout: Option<Arc<Layout>>,
    /// When the last successful poll finished.
    pub last_poll: Option<Timestamp>,
    /// When the last failure happened and why.
    pub last_error: Option<(Timestamp, PollError)>,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Latest value of each of the layout's cells (`None`: not read yet, missing or bad).
    pub last: Vec<Option<Value>>,
}

impl DeviceStatus {
    /// A device not polled yet.
    pub fn new(id: Arc<str>, kind: DeviceKind) -> Self {
        Self { id, kind, layout: None, last_poll: None, last_error: None, consecutive_failures: 0, last: Vec::new() }
    }
}

/// Every device's status: a map read-locked by every poll, each entry its own lock, so pollers
/// of different devices never wait for each other.
#[derive(Debug, Default)]
pub struct StatusBoard {
    devices: RwLock<HashMap<Arc<str>, Arc<Mutex<DeviceStatus>>>>,
}

impl StatusBoard {
    /// Adds (or resets) a device.
    pub fn insert(&self, s: DeviceStatus) {
        if let Ok(mut m) = self.devices.write() {
            m.insert(Arc::clone(&s.id), Arc::new(Mutex::new(s)));
        }
    }

    /// Forgets a device.
    pub fn remove(&self, id: &str) {
        if let Ok(mut m) = self.devices.write() {
            m.remove(id);
        }
    }

    fn entry(&self, id: &str) -> Option<Arc<Mutex<DeviceStatus>>> {
        self.devices.read().ok()?.get(id).cloned()
    }

    /// Records a successful poll.
    pub fn polled(&self, id: &str, at: Timestamp, layout: Arc<Layout>, cells: Vec<Option<Value>>) {
        if let Some(e) = self.entry(id)
            && let Ok(mut s) = e.lock()
        {
            s.last_poll = Some(at);
            s.consecutive_failures = 0;
            s.layout = Some(layout);
            s.last = cells;
        }
    }

    /// Records a failure.
    pub fn failed(&self, id: &str, at: Timestamp, error: PollError) {
        if let Some(e) = self.entry(id)
            && let Ok(mut s) = e.lock()
        {
            s.consecutive_failures += 1;
            s.last_error = Some((at, error));
        }
    }

    /// One device.
    pub fn get(&self, id: &str) -> Option<DeviceStatus> {
        self.entry(id)?.lock().ok().map(|s| s.clone())
    }

    /// The latest values of one resource of a device's layout: metric → value.
    pub fn resource_values(status: &DeviceStatus, resource: usize) -> BTreeMap<&'static str, Value> {
        let Some(layout) = &status.layout else { return BTreeMap::new() };
        layout
            .cells
            .iter()
            .zip(&status.last)
            .filter(|(c, _)| c.resource == resource)
            .filter_map(|(c, v)| v.map(|v| (c.metric.name(), v)))
            .collect()
    }

    /// Every device, by ID.
    pub fn all(&self) -> Vec<DeviceStatus> {
        let entries: Vec<Arc<Mutex<DeviceStatus>>> =
            self.devices.read().map(|m| m.values().cloned().collect()).unwrap_or_default();
        let mut v: Vec<DeviceStatus> = entries.iter().filter_map(|e| e.lock().ok().map(|s| s.clone())).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}
