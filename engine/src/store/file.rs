//! Small checksummed files written atomically (manifest, registry snapshot): write a temporary
//! file, fsync it, rename it over the old one, fsync the directory.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"COLO";

/// Why a checked file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The checksum or framing does not match: the file is corrupt.
    #[error("{path}: corrupt ({what})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What does not match.
        what: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io { path: path.to_owned(), source }
}

/// Fsyncs a directory so a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Writes `payload` framed as `COLO | len u64 | crc32 | payload`, atomically.
pub fn write_atomically(path: &Path, payload: &[u8]) -> Result<(), FileError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(MAGIC).map_err(io(&tmp))?;
        f.write_all(&(payload.len() as u64).to_le_bytes()).map_err(io(&tmp))?;
        f.write_all(&crc32fast::hash(payload).to_le_bytes()).map_err(io(&tmp))?;
        f.write_all(payload).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads a file written by [`write_atomically`]; `None` if it does not exist.
pub fn read_checked(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let corrupt = |what: &str| FileError::Corrupt { path: path.to_owned(), what: what.to_owned() };
    if bytes.len() < 16 || &bytes[..4] != MAGIC {
        return Err(corrupt("bad header"));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[4..12]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[12..16]);
    let payload = &bytes[16..];
    if u64::from_le_bytes(len) != payload.len() as u64 {
        return Err(corrupt("length mismatch"));
    }
    if crc32fast::hash(payload) != u32::from_le_bytes(crc) {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some(payload.to_vec()))
}
