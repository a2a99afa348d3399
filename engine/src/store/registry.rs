//! The series registry: `(device, resource, metric)` ↔ a dense [`SeriesId`]. New series are
//! defined in the WAL with the readings that introduce them; a checkpoint writes a snapshot.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use super::codec::{Decoder, Encoder};
use super::file::{FileError, read_checked, write_atomically};
use super::reading::{SeriesId, SeriesKey};

/// Every known series.
#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

/// Keys are hashed with foldhash: series keys are not attacker-chosen beyond what the inventory
/// allows, and SipHash on three strings per reading was the writer's largest cost.
#[derive(Debug, Default, Clone)]
struct Inner {
    ids: HashMap<SeriesKey, SeriesId, foldhash::fast::RandomState>,
    keys: Vec<SeriesKey>,
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
        self.read().ids.get(key).copied()
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

    /// The IDs of known keys (`None` for unknown ones), under one read lock.
    pub fn lookup<'a>(&self, keys: impl Iterator<Item = &'a SeriesKey>) -> Vec<Option<SeriesId>> {
        let inner = self.read();
        keys.map(|k| inner.ids.get(k).copied()).collect()
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    /// Whether there are no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// IDs for `keys`, given the IDs looked up beforehand (`known[i]`, see [`Registry::lookup`]):
    /// when any is unknown, IDs are allocated at the end of the registry under the write lock
    /// (the writer makes every entry past its durable mark durable with the record using it).
    pub fn resolve_rest(
        &self,
        keys: &[&SeriesKey],
        known: Vec<Option<SeriesId>>,
    ) -> Result<Vec<SeriesId>, RegistryError> {
        if known.len() == keys.len() && known.iter().all(Option::is_some) {
            return Ok(known.into_iter().flatten().collect());
        }
        self.allocate(keys)
    }

    fn allocate(&self, keys: &[&SeriesKey]) -> Result<Vec<SeriesId>, RegistryError> {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut ids = Vec::with_capacity(keys.len());
        for &k in keys {
            let id = match inner.ids.get(k) {
                Some(id) => *id,
                None => {
                    let id = SeriesId(u32::try_from(inner.keys.len()).map_err(|_| RegistryError::Full)?);
                    inner.ids.insert(k.clone(), id);
                    inner.keys.push(k.clone());
                    id
                }
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
            None if idx == inner.keys.len() => {
                inner.ids.insert(key.clone(), id);
                inner.keys.push(key);
                Ok(())
            }
            None => Err(RegistryError::Malformed(format!("series {} defined before {}", id.0, inner.keys.len()))),
        }
    }

    /// Writes a snapshot atomically.
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let inner = self.read().clone();
        let mut e = Encoder::default();
        e.u32(inner.keys.len() as u32);
        for k in &inner.keys {
            e.str(&k.device);
            e.str(&k.resource);
            e.str(&k.metric);
        }
        write_atomically(path, &e.finish())?;
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
        Ok(reg)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
}
