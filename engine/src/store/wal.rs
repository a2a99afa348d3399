//! The write-ahead log: numbered files of length-prefixed, CRC-32-checked records. A record is
//! one write request (with the series it defines); it is acknowledged only after the fsync that
//! covers it. Recovery drops a torn last record (a crash mid-write: never acknowledged) and
//! reports, and sets aside, any file whose checksums fail before its end.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::codec::{Decoder, Encoder};
use super::reading::{Reading, SeriesId, SeriesKey, Value};
use crate::time::Timestamp;

/// Why the WAL failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O error (a full disk is `ErrorKind::StorageFull`).
    #[error("WAL {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl WalError {
    /// Whether the failure is a full disk.
    pub fn is_disk_full(&self) -> bool {
        let WalError::Io { source, .. } = self;
        source.kind() == std::io::ErrorKind::StorageFull || source.raw_os_error() == Some(28)
    }
}

/// One durable write: its commit sequence number, the series it introduces, its readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Commit sequence number (orders rewrites: the higher wins).
    pub seq: super::CommitSeq,
    /// Series first used by this record.
    pub defs: Vec<(SeriesId, SeriesKey)>,
    /// The readings.
    pub readings: Vec<Reading>,
}

const KIND_BATCH: u8 = 1;

impl Record {
    /// The framed bytes: `len u32 | crc32 u32 | payload`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the framed bytes to `out` (no intermediate payload buffer: a group commit frames
    /// every record into one buffer).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        // Frame and header, then at most 45 bytes per reading (id, ts, value, flags, two u64s).
        out.reserve(8 + 13 + self.readings.len() * 45);
        out.extend_from_slice(&[0; 8]);
        let mut e = Encoder::extending(std::mem::take(out));
        e.u8(KIND_BATCH);
        e.u64(self.seq.get());
        e.u32(self.defs.len() as u32);
        for (id, k) in &self.defs {
            e.u32(id.0);
            e.str(&k.device);
            e.str(&k.resource);
            e.str(&k.metric);
        }
        e.u32(self.readings.len() as u32);
        for r in &self.readings {
            e.u32(r.series.0);
            e.i64(r.ts.as_nanos());
            e.i128(r.value.0);
            e.u8(u8::from(r.uptime_s.is_some()) | (u8::from(r.discontinuity.is_some()) << 1));
            if let Some(u) = r.uptime_s {
                e.u64(u);
            }
            if let Some(d) = r.discontinuity {
                e.u64(d);
            }
        }
        *out = e.finish();
        let payload = &out[start + 8..];
        let (len, crc) = ((payload.len() as u32).to_le_bytes(), crc32fast::hash(payload).to_le_bytes());
        out[start..start + 4].copy_from_slice(&len);
        out[start + 4..start + 8].copy_from_slice(&crc);
    }

    fn decode(payload: &[u8]) -> Result<Self, String> {
        let mut d = Decoder::new(payload);
        if d.u8()? != KIND_BATCH {
            return Err("unknown record kind".into());
        }
        let seq = super::CommitSeq(d.u64()?);
        let ndefs = d.u32()?;
        let mut defs = Vec::new();
        for _ in 0..ndefs {
            let id = SeriesId(d.u32()?);
            defs.push((id, SeriesKey { device: d.str()?.into(), resource: d.str()?.into(), metric: d.str()?.into() }));
        }
        let n = d.u32()?;
        let mut readings = Vec::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let series = SeriesId(d.u32()?);
            let ts = Timestamp::from_nanos(d.i64()?);
            let value = Value(d.i128()?);
            let flags = d.u8()?;
            let uptime_s = if flags & 1 != 0 { Some(d.u64()?) } else { None };
            let discontinuity = if flags & 2 != 0 { Some(d.u64()?) } else { None };
            readings.push(Reading { series, ts, value, uptime_s, discontinuity });
        }
        if !d.is_empty() {
            return Err("trailing bytes in record".into());
        }
        Ok(Self { seq, defs, readings })
    }
}

/// The WAL file being appended to.
pub struct WalWriter {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    number: WalFileNo,
    len: u64,
}

crate::typed_id!(
    int
    /// A WAL file's number: files are numbered in the order they were started, and the manifest
    /// records the highest one its segments cover.
    WalFileNo: u64
);

/// The file name of WAL file `n`.
pub fn file_name(n: WalFileNo) -> String {
    format!("{:020}.wal", n.get())
}

/// The numbers of the WAL files in `dir`, ascending.
pub fn list(dir: &Path) -> std::io::Result<Vec<WalFileNo>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".wal").and_then(|s| s.parse::<u64>().ok()) {
            out.push(WalFileNo(n));
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl WalWriter {
    /// Creates WAL file `number` in `dir`.
    pub fn create(dir: &Path, number: WalFileNo) -> Result<Self, WalError> {
        let path = dir.join(file_name(number));
        let err = |source| WalError::Io { path: path.clone(), source };
        let file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(err)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
        Ok(Self { dir: dir.to_owned(), file, path, number, len: 0 })
    }

    /// The file's number.
    pub fn number(&self) -> WalFileNo {
        self.number
    }

    /// Bytes in the current file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the current file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends framed records and fsyncs once (group commit). On failure the file is cut back to
    /// its previous length, so a failed write leaves nothing behind to replay.
    pub fn append(&mut self, framed: &[u8]) -> Result<(), WalError> {
        let err = |source| WalError::Io { path: self.path.clone(), source };
        let result = self.file.write_all(framed).and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            if let Err(cut) = self.file.set_len(self.len).and_then(|()| self.file.sync_data()) {
                tracing::error!(wal = %self.path.display(), error = %cut, "cannot cut back a failed WAL append");
            }
            return Err(err(e));
        }
        self.len += framed.len() as u64;
        Ok(())
    }

    /// Starts the next file; returns the number of the file just closed.
    pub fn rotate(&mut self) -> Result<WalFileNo, WalError> {
        let next = Self::create(&self.dir, self.number.next())?;
        let closed = self.number;
        *self = next;
        Ok(closed)
    }
}

/// What replaying one WAL file found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Records, in order.
    pub records: Vec<Record>,
    /// A torn tail (crash mid-append) that was cut off: its length in bytes.
    pub torn_tail_bytes: u64,
    /// Corruption before the end: a description. The file was renamed to `*.corrupt`.
    pub corrupt: Option<String>,
}

/// Reads every record of WAL file `path`, repairing a torn tail in place.
pub fn replay(path: &Path) -> Result<Replay, WalError> {
    let err = |source| WalError::Io { path: path.to_owned(), source };
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(err)?;
    let mut out = Replay::default();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let bad = |what: &str| format!("{what} at byte {pos}");
        if rest.len() < 8 {
            out.torn_tail_bytes = rest.len() as u64;
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if rest.len() < 8 + len {
            out.torn_tail_bytes = rest.len() as u64;
            break;
        }
        let payload = &rest[8..8 + len];
        let end = pos + 8 + len;
        if crc32fast::hash(payload) != crc {
            if end == bytes.len() {
                // The last record's bytes did not all reach the disk: a torn write.
                out.torn_tail_bytes = (bytes.len() - pos) as u64;
            } else {
                out.corrupt = Some(bad("checksum mismatch"));
            }
            break;
        }
        match Record::decode(payload) {
            Ok(r) => out.records.push(r),
            Err(e) => {
                out.corrupt = Some(bad(&format!("undecodable record ({e})")));
                break;
            }
        }
        pos = end;
    }
    if out.corrupt.is_some() {
        let aside = path.with_extension("wal.corrupt");
        fs::rename(path, &aside).map_err(err)?;
    } else if out.torn_tail_bytes > 0 {
        let f = OpenOptions::new().write(true).open(path).map_err(err)?;
        f.set_len(pos as u64).and_then(|()| f.sync_all()).map_err(err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, n: usize) -> Record {
        Record {
            seq: super::super::CommitSeq(seq),
            defs: vec![(SeriesId(0), SeriesKey { device: "d".into(), resource: "r".into(), metric: "m".into() })],
            readings: (0..n)
                .map(|i| Reading {
                    series: SeriesId(0),
                    ts: Timestamp::from_secs(i as i64),
                    value: Value::from_u64(i as u64),
                    uptime_s: (i % 2 == 0).then_some(7),
                    discontinuity: (i % 3 == 0).then_some(9),
                })
                .collect(),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(dir.path(), WalFileNo(1)).unwrap();
        let (a, b) = (rec(1, 3), rec(2, 5));
        w.append(&[a.encode(), b.encode()].concat()).unwrap();
        let good_len = w.len();
        // Half of a third record: a crash mid-append.
        let c = rec(3, 4).encode();
        w.append(&c[..c.len() / 2]).unwrap();
        let path = dir.path().join(file_name(WalFileNo(1)));
        let r = replay(&path).unwrap();
        assert_eq!(r.records, vec![a.clone(), b.clone()]);
        assert_eq!(r.torn_tail_bytes, (c.len() / 2) as u64);
        assert_eq!(r.corrupt, None);
        assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
        // Replaying again finds the same records and nothing torn.
        let again = replay(&path).unwrap();
        assert_eq!((again.records.len(), again.torn_tail_bytes), (2, 0));
    }

    #[test]
    fn a_flipped_byte_before_the_end_is_reported_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(dir.path(), WalFileNo(7)).unwrap();
        let (a, b) = (rec(1, 3), rec(2, 3));
        w.append(&[a.encode(), b.encode()].concat()).unwrap();
        let path = dir.path().join(file_name(WalFileNo(7)));
        let mut bytes = fs::read(&path).unwrap();
        bytes[20] ^= 0x40; // inside the first record's payload
        fs::write(&path, &bytes).unwrap();
        let r = replay(&path).unwrap();
        assert_eq!(r.records, vec![]);
        assert_eq!(r.corrupt.as_deref(), Some("checksum mismatch at byte 0"));
        assert!(!path.exists());
        assert!(dir.path().join("00000000000000000007.wal.corrupt").exists());
    }
}
