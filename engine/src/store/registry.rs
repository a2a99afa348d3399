//! The series registry: `(device, resource, metric)` ↔ a dense [`SeriesId`]. New series are
//! defined in the WAL with the readings that introduce them; a checkpoint writes a snapshot.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use super::codec::{Decoder, Encoder};
use super::file::{FileError, read_checked, write_atomically};
use super::reading::{SeriesId, SeriesKey};
pub use resources::{Metrics, metric_of};
use resources::{Resources, resource_key};

pub mod resources;

/// Every known series.
#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<Inner>,
    snapshot: Mutex<Snapshot>,
}

/// The snapshot's bytes, kept encoded: IDs are dense and never reused, so a save encodes only the
/// series defined since the last one (copying a million-entry map per checkpoint was a tenth of
/// the server's CPU under a 1M-series load), and writes nothing when none were.
#[derive(Debug, Default)]
struct Snapshot {
    /// The count (4 bytes, patched at each save), then every encoded key so far.
    encoded: Vec<u8>,
    /// Keys encoded.
    keys: usize,
    /// Keys in the file on disk.
    saved: usize,
}

/// Keys by ID, and the series by resource (see [`resources`]).
#[derive(Debug, Default)]
struct Inner {
    resources: Resources,
    keys: Vec<SeriesKey>,
}

impl Inner {
    fn get(&self, buf: &mut Vec<u8>, key: &SeriesKey) -> Option<SeriesId> {
        let i = self.resources.find(resource_key(buf, &key.device, &key.resource))?;
        metric_of(self.resources.metrics(i)?, &key.metric)
    }

    /// Adds a key with the next ID (the caller checked it is new).
    fn push(&mut self, buf: &mut Vec<u8>, key: SeriesKey) -> Result<SeriesId, RegistryError> {
        let id = SeriesId(u32::try_from(self.keys.len()).map_err(|_| RegistryError::Full)?);
        self.resources.add(resource_key(buf, &key.device, &key.resource), Arc::clone(&key.metric), id);
        self.keys.push(key);
        Ok(id)
    }
}

/// A read view for resolving many series (ingest): holds the registry's read lock, and lets it go
/// every [`Lookup::REFRESH`] look-ups so that a request defining new series (the write lock)
/// never waits behind another's whole body.
pub struct Lookup<'a> {
    registry: &'a Registry,
    guard: Option<std::sync::RwLockReadGuard<'a, Inner>>,
    uses: u32,
    buf: Vec<u8>,
    /// The resource found last (the next one is tried first).
    last: Option<u32>,
}

impl Lookup<'_> {
    /// Look-ups between two takes of the read lock.
    pub const REFRESH: u32 = 256;

    /// The series of `(device, resource)` by metric, if any is known.
    pub fn resource(&mut self, device: &str, resource: &str) -> Option<&Metrics> {
        self.uses += 1;
        if self.uses >= Self::REFRESH {
            self.uses = 0;
            self.guard = None;
        }
        let guard = self.guard.get_or_insert_with(|| self.registry.read());
        let found = guard.resources.find_near(resource_key(&mut self.buf, device, resource), self.last);
        self.last = found.or(self.last);
        guard.resources.metrics(found?)
    }
}

/// Why the registry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The snapshot file failed.
    #[error("series registry snapshot: {0}")]
    File(#[from] FileError),
    /// The snapshot decodes to nonsense.
    #[error("series registry snapshot is malformed: {0}")]
    Malformed(String),
    /// A WAL definition contradicts the registry.
    #[error("series {id} is defined as {key} but the registry holds {existing}")]
    Conflict {
        /// The ID.
        id: u32,
        /// The new definition.
        key: SeriesKey,
        /// What the registry holds.
        existing: String,
    },
    /// More than 2^32 series.
    #[error("the series registry is full (2^32 series)")]
    Full,
}

impl Registry {
    /// The ID of a known series.
    pub fn get(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.read().get(&mut Vec::new(), key)
    }

    /// A read view for resolving many series at once.
    pub fn lookup_many(&self) -> Lookup<'_> {
        Lookup { registry: self, guard: None, uses: 0, buf: Vec::with_capacity(64), last: None }
    }

    /// Runs `f` on the key of an ID, under the read lock (no copy of the key).
    pub fn with_key<T>(&self, id: SeriesId, f: impl FnOnce(&SeriesKey) -> T) -> Option<T> {
        self.read().keys.get(id.0 as usize).map(f)
    }

    /// The key of an ID.
    pub fn key(&self, id: SeriesId) -> Option<SeriesKey> {
        self.read().keys.get(id.0 as usize).cloned()
    }

    /// IDs of the series whose key passes `keep`, under one read lock, without copying keys.
    pub fn select(&self, keep: impl Fn(&SeriesKey) -> bool) -> std::collections::HashSet<u32> {
        self.read().keys.iter().enumerate().filter(|(_, k)| keep(k)).map(|(i, _)| i as u32).collect()
    }

    /// The keys of the given IDs (unknown IDs are left out).
    pub fn keys_of(&self, ids: impl Iterator<Item = u32>) -> HashMap<u32, SeriesKey> {
        let inner = self.read();
        ids.filter_map(|i| inner.keys.get(i as usize).map(|k| (i, k.clone()))).collect()
    }

    /// The IDs and keys of `range`, under one read lock.
    pub fn keys_in(&self, range: std::ops::Range<usize>) -> Vec<(SeriesId, SeriesKey)> {
        let inner = self.read();
        let keys = inner.keys.get(range.clone()).unwrap_or_default();
        range.zip(keys).map(|(i, k)| (SeriesId(i as u32), k.clone())).collect()
    }

    /// The IDs of known keys (`None` for unknown ones), under one read lock.
    pub fn lookup<'a>(&self, keys: impl Iterator<Item = &'a SeriesKey>) -> Vec<Option<SeriesId>> {
        let inner = self.read();
        let mut buf = Vec::with_capacity(64);
        keys.map(|k| inner.get(&mut buf, k)).collect()
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    /// Whether there are no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// IDs for `keys`, allocated at the end of the registry under the write lock for those not
    /// known yet (the writer makes every entry past its durable mark durable with the record
    /// using it).
    pub fn allocate(&self, keys: &[&SeriesKey]) -> Result<Vec<SeriesId>, RegistryError> {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut buf = Vec::with_capacity(64);
        let mut ids = Vec::with_capacity(keys.len());
        for &k in keys {
            let id = match inner.get(&mut buf, k) {
                Some(id) => id,
                None => inner.push(&mut buf, k.clone())?,
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// Applies a definition replayed from the WAL (idempotent).
    pub fn define(&self, id: SeriesId, key: SeriesKey) -> Result<(), RegistryError> {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let idx = id.0 as usize;
        match inner.keys.get(idx) {
            Some(existing) if *existing == key => Ok(()),
            Some(existing) => Err(RegistryError::Conflict { id: id.0, key, existing: existing.to_string() }),
            None if idx == inner.keys.len() => inner.push(&mut Vec::new(), key).map(|_| ()),
            None => Err(RegistryError::Malformed(format!("series {} defined before {}", id.0, inner.keys.len()))),
        }
    }

    /// Writes a snapshot atomically.
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if snap.encoded.is_empty() {
            snap.encoded.extend_from_slice(&0u32.to_le_bytes());
        }
        {
            let inner = self.read();
            let mut e = Encoder::default();
            for k in inner.keys.iter().skip(snap.keys) {
                e.str(&k.device);
                e.str(&k.resource);
                e.str(&k.metric);
            }
            snap.encoded.extend_from_slice(&e.finish());
            snap.keys = inner.keys.len();
        }
        if snap.keys == snap.saved && path.exists() {
            return Ok(());
        }
        let count = u32::try_from(snap.keys).map_err(|_| RegistryError::Full)?;
        snap.encoded[..4].copy_from_slice(&count.to_le_bytes());
        write_atomically(path, &snap.encoded)?;
        snap.saved = snap.keys;
        Ok(())
    }

    /// Loads a snapshot (an absent file is an empty registry).
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let reg = Registry::default();
        let Some(bytes) = read_checked(path)? else { return Ok(reg) };
        let mut d = Decoder::new(&bytes);
        let n = d.u32().map_err(RegistryError::Malformed)?;
        for i in 0..n {
            let key = SeriesKey {
                device: d.str().map_err(RegistryError::Malformed)?.into(),
                resource: d.str().map_err(RegistryError::Malformed)?.into(),
                metric: d.str().map_err(RegistryError::Malformed)?.into(),
            };
            reg.define(SeriesId(i), key)?;
        }
        // The file holds these: a save writes again only once more are defined.
        reg.snapshot.lock().unwrap_or_else(|p| p.into_inner()).saved = n as usize;
        Ok(reg)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(device: &str, resource: &str) -> SeriesKey {
        SeriesKey { device: device.into(), resource: resource.into(), metric: "in_octets".into() }
    }

    #[test]
    fn snapshots_encode_what_was_added_since_and_load_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("series.snapshot");
        let reg = Registry::default();
        reg.allocate(&[&key("sw1", "p1"), &key("sw1", "p2")]).unwrap();
        reg.save(&path).unwrap();
        reg.allocate(&[&key("sw2", "p1")]).unwrap();
        reg.save(&path).unwrap();
        let loaded = Registry::load(&path).unwrap();
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded.get(&key("sw2", "p1")), Some(SeriesId(2)));
        assert_eq!(loaded.key(SeriesId(1)), Some(key("sw1", "p2")));
        // A registry loaded from the file, grown by one, saves all four.
        loaded.allocate(&[&key("sw3", "p9")]).unwrap();
        loaded.save(&path).unwrap();
        let again = Registry::load(&path).unwrap();
        assert_eq!((again.len(), again.key(SeriesId(3))), (4, Some(key("sw3", "p9"))));
        assert_eq!(again.key(SeriesId(0)), Some(key("sw1", "p1")));
    }
}
