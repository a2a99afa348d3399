//! Dense storage of one series' buckets: chunks of three hours (36 buckets), so a month of a
//! port is 240 contiguous arrays (reading a month's rates for the 95th is a near-linear scan, not
//! 8,640 map look-ups). A chunk holds buckets from its start up to the last one touched, growing
//! as later buckets are touched (in-order samples touch them one after another), so a series
//! seen once costs a few buckets, not a chunk's worth. An untouched bucket is
//! `Bucket::default()` (missing).

use std::collections::BTreeMap;

use super::bucket::{BUCKET_NS, Bucket, BucketSink, Slot};

/// Buckets per chunk (three hours).
pub const PER_CHUNK: usize = 36;

/// Width of a chunk, ns.
pub const CHUNK_NS: i64 = PER_CHUNK as i64 * BUCKET_NS;

/// Memory one bucket holds, bytes.
pub const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

/// Memory a full chunk holds, bytes.
pub const CHUNK_BYTES: usize = PER_CHUNK * BUCKET_BYTES;

/// One series' buckets. Equal when they hold the same touched buckets (however allocated).
#[derive(Debug, Clone, Default)]
pub struct BucketChunks {
    /// By chunk start; each holds the chunk's first `len` buckets (at most [`PER_CHUNK`]).
    chunks: BTreeMap<i64, Vec<Bucket>>,
    /// Buckets allocated, over every chunk.
    held: usize,
}

impl PartialEq for BucketChunks {
    fn eq(&self, other: &Self) -> bool {
        self.range(i64::MIN, i64::MAX).eq(other.range(i64::MIN, i64::MAX))
    }
}

impl Eq for BucketChunks {}

/// The start of the chunk holding `t`, saturating at the ends of time (open ranges).
fn chunk_floor(t: i64) -> i64 {
    t.div_euclid(CHUNK_NS).saturating_mul(CHUNK_NS)
}

fn split(start: i64) -> (i64, usize) {
    let chunk_start = start.div_euclid(CHUNK_NS) * CHUNK_NS;
    (chunk_start, ((start - chunk_start) / BUCKET_NS) as usize)
}

impl BucketSink for BucketChunks {
    fn bucket(&mut self, start: i64) -> &mut Bucket {
        let (chunk_start, i) = split(start);
        let chunk = self.chunks.entry(chunk_start).or_default();
        if i >= chunk.len() {
            // Grow to the bucket, and at least double (a few reallocations per chunk).
            let want = (i + 1).max((chunk.len() * 2).min(PER_CHUNK));
            chunk.reserve_exact(want - chunk.len());
            self.held += want - chunk.len();
            chunk.resize(want, Bucket::default());
        }
        &mut chunk[i]
    }
}

impl BucketChunks {
    /// The bucket starting at `start` (aligned), if anything touched it.
    pub fn get(&self, start: i64) -> Option<&Bucket> {
        let (chunk_start, i) = split(start);
        self.chunks.get(&chunk_start).and_then(|d| d.get(i)).filter(|b| **b != Bucket::default())
    }

    /// Chunks held.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Memory of the buckets held, bytes.
    pub fn bytes(&self) -> usize {
        self.held * BUCKET_BYTES
    }

    /// Sets the bucket starting at `start`.
    pub fn set(&mut self, start: i64, b: Bucket) {
        *self.bucket(start) = b;
    }

    /// Clears the buckets starting in `[from, to)`; drops chunks left empty.
    pub fn clear_range(&mut self, from: i64, to: i64) {
        if from >= to {
            return;
        }
        let first_chunk = chunk_floor(from);
        let chunks: Vec<i64> = self.chunks.range(first_chunk..to).map(|(d, _)| *d).collect();
        for chunk_start in chunks {
            let Some(chunk) = self.chunks.get_mut(&chunk_start) else { continue };
            for (i, b) in chunk.iter_mut().enumerate() {
                let s = chunk_start + i as i64 * BUCKET_NS;
                if s >= from && s < to {
                    *b = Bucket::default();
                }
            }
            if chunk.iter().all(|b| *b == Bucket::default()) {
                self.held -= chunk.len();
                self.chunks.remove(&chunk_start);
            }
        }
    }

    /// Touched buckets starting in `[from, to)`, in order.
    pub fn range(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, &Bucket)> + '_ {
        let first_chunk = if from >= to { to } else { chunk_floor(from) };
        self.chunks.range(first_chunk..to.max(first_chunk)).flat_map(move |(chunk_start, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(move |(i, b)| (chunk_start + i as i64 * BUCKET_NS, b))
                .filter(move |(s, b)| *s >= from && *s < to && **b != Bucket::default())
        })
    }

    /// Calls `f(start, bucket)` for every touched bucket starting in `[from, to)`, in order;
    /// bounds are checked on the edge chunks only.
    pub fn for_each(&self, from: i64, to: i64, mut f: impl FnMut(i64, &Bucket)) {
        if from >= to {
            return;
        }
        for (chunk_start, chunk) in self.chunks.range(chunk_floor(from)..to) {
            let inner = *chunk_start >= from && chunk_start.saturating_add(CHUNK_NS) <= to;
            for (i, b) in chunk.iter().enumerate() {
                let s = chunk_start + i as i64 * BUCKET_NS;
                if (inner || (s >= from && s < to)) && *b != Bucket::default() {
                    f(s, b);
                }
            }
        }
    }

    /// The `n` buckets starting at `first` (aligned) as ranking slots, dense.
    pub fn dense_slots(&self, first: i64, n: usize) -> Vec<Slot> {
        let mut out = vec![Slot::default(); n];
        let to = first.saturating_add(n as i64 * BUCKET_NS);
        for (chunk_start, chunk) in self.chunks.range(split(first).0..to) {
            // Output index of the chunk's first bucket (one division per chunk, none per bucket);
            // the chunk's buckets inside [0, n) are copied as one zipped run (no per-bucket checks).
            let base = (chunk_start - first).div_euclid(BUCKET_NS);
            let skip = usize::try_from(-base).unwrap_or(0).min(chunk.len());
            let start = usize::try_from(base).unwrap_or(0).min(n);
            let len = (chunk.len() - skip).min(n - start);
            for (o, b) in out[start..start + len].iter_mut().zip(&chunk[skip..skip + len]) {
                *o = Slot::from(b);
            }
        }
        out
    }

    /// Chunks held.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// A copy of the chunks holding buckets that start in `[from, to)` (whole chunks: callers
    /// read them through a range).
    pub fn clone_range(&self, from: i64, to: i64) -> BucketChunks {
        if from >= to {
            return BucketChunks::default();
        }
        let chunks: BTreeMap<i64, Vec<Bucket>> =
            self.chunks.range(chunk_floor(from)..to).map(|(k, c)| (*k, c.clone())).collect();
        let held = chunks.values().map(Vec::len).sum();
        BucketChunks { chunks, held }
    }

    /// Takes out the chunks starting in `[from, to)` (chunk-aligned bounds, such as months).
    pub fn take_range(&mut self, from: i64, to: i64) -> BucketChunks {
        if from >= to {
            return BucketChunks::default();
        }
        let mut tail = self.chunks.split_off(&from);
        let mut after = tail.split_off(&to);
        self.chunks.append(&mut after);
        let held = tail.values().map(Vec::len).sum();
        self.held -= held;
        BucketChunks { chunks: tail, held }
    }

    /// Moves `other`'s chunks in, replacing chunks with the same start.
    pub fn absorb(&mut self, other: BucketChunks) {
        for (k, c) in other.chunks {
            self.held += c.len();
            if let Some(old) = self.chunks.insert(k, c) {
                self.held -= old.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_range_dense_and_clear() {
        let mut d = BucketChunks::default();
        let b = |bytes| Bucket { bytes, covered_ns: BUCKET_NS, ..Bucket::default() };
        let chunk_start = 480_000 * CHUNK_NS;
        d.set(chunk_start - BUCKET_NS, b(1));
        d.set(chunk_start, b(2));
        d.set(chunk_start + 5 * BUCKET_NS, b(3));
        assert_eq!(d.chunks(), 2);
        assert_eq!(d.get(chunk_start).map(|x| x.bytes), Some(2));
        assert_eq!(d.get(chunk_start + BUCKET_NS), None);
        let got: Vec<(i64, u64)> =
            d.range(chunk_start - BUCKET_NS, chunk_start + 5 * BUCKET_NS).map(|(s, x)| (s, x.bytes)).collect();
        assert_eq!(got, vec![(chunk_start - BUCKET_NS, 1), (chunk_start, 2)]);
        let dense: Vec<u64> = d.dense_slots(chunk_start - 2 * BUCKET_NS, 8).iter().map(|x| x.bytes).collect();
        assert_eq!(dense, vec![0, 1, 2, 0, 0, 0, 0, 3]);
        d.clear_range(i64::MIN, chunk_start + BUCKET_NS);
        assert_eq!(d.chunks(), 1);
        assert_eq!(d.range(i64::MIN, i64::MAX).count(), 1);
        d.clear_range(chunk_start, i64::MAX);
        assert_eq!(d.chunks(), 0);
    }

    #[test]
    fn chunks_grow_as_buckets_are_touched() {
        let mut d = BucketChunks::default();
        let b = Bucket { bytes: 1, covered_ns: BUCKET_NS, ..Bucket::default() };
        let c = 7 * CHUNK_NS;
        let mut held = Vec::new();
        for i in [0, 1, 2, 4, 5, 8, 16, 35] {
            d.set(c + i * BUCKET_NS, b);
            held.push(d.bytes() / BUCKET_BYTES);
        }
        assert_eq!(held, vec![1, 2, 4, 8, 8, 16, 32, 36], "at least doubling, never past the chunk");
        // A series first seen late in a chunk holds the chunk's buckets up to it.
        let mut e = BucketChunks::default();
        e.set(c + 23 * BUCKET_NS, b);
        assert_eq!(e.bytes(), 24 * BUCKET_BYTES);
        let dense: Vec<u64> = d.dense_slots(c - BUCKET_NS, 8).iter().map(|s| s.bytes).collect();
        assert_eq!(dense, vec![0, 1, 1, 1, 0, 1, 1, 0]);
        assert_eq!(d.range(c + 3 * BUCKET_NS, c + 40 * BUCKET_NS).count(), 5);
        d.clear_range(i64::MIN, i64::MAX);
        assert_eq!((d.bytes(), d.chunk_count()), (0, 0));
        // Equal when the touched buckets are, however allocated.
        let mut f = BucketChunks::default();
        f.set(c + 23 * BUCKET_NS, b);
        f.set(c + 30 * BUCKET_NS, b);
        f.clear_range(c + 30 * BUCKET_NS, c + 31 * BUCKET_NS);
        assert_eq!(e, f);
    }

    #[test]
    fn take_clone_and_absorb_move_whole_chunks() {
        let mut d = BucketChunks::default();
        let b = |bytes| Bucket { bytes, covered_ns: BUCKET_NS, ..Bucket::default() };
        for i in 0..4 {
            d.set(i * CHUNK_NS + BUCKET_NS, b(i as u64 + 1));
        }
        let copy = d.clone_range(CHUNK_NS + 2 * BUCKET_NS, 2 * CHUNK_NS + 1);
        assert_eq!(copy.range(i64::MIN, i64::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![2, 3]);
        let taken = d.take_range(CHUNK_NS, 3 * CHUNK_NS);
        assert_eq!(taken.range(i64::MIN, i64::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(d.range(i64::MIN, i64::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![1, 4]);
        d.absorb(taken);
        assert_eq!(d.range(i64::MIN, i64::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(d.chunk_count(), 4);
    }
}
