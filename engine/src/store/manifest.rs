//! The manifest: which segments make up the store, and which WAL files they cover. Rewritten
//! atomically; writing it is the commit point of a checkpoint or a compaction.

use std::path::Path;

use super::file::{FileError, read_checked, write_atomically};
use super::segment::SegmentMeta;

/// The manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// WAL files numbered up to this one are fully in segments (0: none).
    pub wal_covered_through: super::wal::WalFileNo,
    /// Next segment file number.
    pub next_segment: u64,
    /// The live segments.
    pub segments: Vec<SegmentMeta>,
    /// The highest commit sequence number ever checkpointed: sequence numbers never go back,
    /// even after retention drops every segment (derived state records the numbers it covers).
    #[serde(default)]
    pub seq_high: super::CommitSeq,
}

/// Why the manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file failed its checks.
    #[error("manifest: {0}")]
    File(#[from] FileError),
    /// The file is not a manifest.
    #[error("manifest is malformed: {0}")]
    Malformed(String),
}

impl Manifest {
    /// Loads the manifest (absent: empty).
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        match read_checked(path)? {
            None => Ok(Manifest { version: 1, ..Manifest::default() }),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ManifestError::Malformed(e.to_string())),
        }
    }

    /// Saves it atomically.
    pub fn save(&self, path: &Path) -> Result<(), ManifestError> {
        let bytes = serde_json::to_vec(self).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        write_atomically(path, &bytes)?;
        Ok(())
    }

    /// Largest commit sequence number checkpointed (in a segment now or ever).
    pub fn max_seq(&self) -> super::CommitSeq {
        self.segments.iter().map(|s| s.max_seq).max().unwrap_or_default().max(self.seq_high)
    }
}
