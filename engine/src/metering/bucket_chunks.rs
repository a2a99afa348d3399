//! Dense storage of one series' buckets: chunks of three hours (36 buckets), so a month of a
//! port is 240 contiguous arrays (reading a month's rates for the 95th is a near-linear scan, not
//! 8,640 map look-ups). A chunk holds the run of buckets from the first one touched to the last,
//! growing (at least doubling, never past the chunk's ends) as buckets beyond the run are touched:
//! in-order samples touch them one after another, so a series seen once costs one bucket, not a
//! chunk's worth (a million new ports allocating from their chunks' starts faulted in 600 MB).
//! Chunks sit in one vector sorted by start: a series' chunks are few and mostly appended, and a
//! one-chunk B-tree's node was ten times the chunk. An untouched bucket is `Bucket::default()`
//! (missing).
//!
//! Instants are [`Timestamp`]s at the interface; inside, chunk starts are the plain nanosecond
//! integers the chunk arithmetic (floor division, bucket indexes) is done in.

use super::bucket::{BUCKET_NS, Bucket, BucketSink, Slot};
use crate::time::Timestamp;

/// Buckets per chunk (three hours).
pub const PER_CHUNK: usize = 36;

/// Width of a chunk, ns.
pub const CHUNK_NS: i64 = PER_CHUNK as i64 * BUCKET_NS;

/// Memory one bucket holds, bytes.
pub const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

/// Memory a full chunk holds, bytes.
pub const CHUNK_BYTES: usize = PER_CHUNK * BUCKET_BYTES;

/// A chunk's run of buckets.
#[derive(Debug, Clone)]
struct Chunk {
    /// The chunk's start (a multiple of [`CHUNK_NS`]).
    start: i64,
    /// Index in the chunk of `buckets[0]`.
    first: usize,
    buckets: Vec<Bucket>,
}

impl Chunk {
    /// Start of the run's first bucket.
    fn run_start(&self) -> i64 {
        self.start + self.first as i64 * BUCKET_NS
    }

    /// `(start, bucket)` of the run.
    fn iter(&self) -> impl Iterator<Item = (Timestamp, &Bucket)> + '_ {
        let run = self.run_start();
        self.buckets.iter().enumerate().map(move |(k, b)| (Timestamp::from_nanos(run + k as i64 * BUCKET_NS), b))
    }

    /// The bucket at index `i` of the chunk, the run grown to hold it; also how many buckets
    /// the run grew by.
    fn slot(&mut self, i: usize) -> (&mut Bucket, usize) {
        let len = self.buckets.len();
        let mut grown = 0;
        if len == 0 {
            self.first = i;
            self.buckets.push(Bucket::default());
            grown = 1;
        } else if i < self.first {
            // Earlier buckets (late data): prepend, at least doubling toward the chunk's start.
            let new_first = i.min(self.first.saturating_sub(len));
            grown = self.first - new_first;
            let mut run = Vec::with_capacity(len + grown);
            run.resize(grown, Bucket::default());
            run.extend_from_slice(&self.buckets);
            self.buckets = run;
            self.first = new_first;
        } else if i >= self.first + len {
            let end = (i + 1).max((self.first + len * 2).min(PER_CHUNK));
            grown = end - self.first - len;
            self.buckets.reserve_exact(grown);
            self.buckets.resize(len + grown, Bucket::default());
        }
        (&mut self.buckets[i - self.first], grown)
    }
}

/// One series' buckets. Equal when they hold the same touched buckets (however allocated).
#[derive(Debug, Clone, Default)]
pub struct BucketChunks {
    /// Sorted by start, at most one per start.
    chunks: Vec<Chunk>,
    /// Buckets allocated, over every chunk.
    held: usize,
}

impl PartialEq for BucketChunks {
    fn eq(&self, other: &Self) -> bool {
        self.range(Timestamp::MIN, Timestamp::MAX).eq(other.range(Timestamp::MIN, Timestamp::MAX))
    }
}

impl Eq for BucketChunks {}

/// The start of the chunk holding `t`, saturating at the ends of time (open ranges).
fn chunk_floor(t: Timestamp) -> i64 {
    t.as_nanos().div_euclid(CHUNK_NS).saturating_mul(CHUNK_NS)
}

fn split(start: Timestamp) -> (i64, usize) {
    let start = start.as_nanos();
    let chunk_start = start.div_euclid(CHUNK_NS) * CHUNK_NS;
    (chunk_start, ((start - chunk_start) / BUCKET_NS) as usize)
}

impl BucketSink for BucketChunks {
    fn bucket(&mut self, start: Timestamp) -> &mut Bucket {
        let (chunk_start, i) = split(start);
        // In-order samples touch the last chunk: checked before searching.
        let at = match self.chunks.last() {
            Some(c) if c.start == chunk_start => self.chunks.len() - 1,
            _ => match self.chunks.binary_search_by_key(&chunk_start, |c| c.start) {
                Ok(at) => at,
                Err(at) => {
                    self.chunks.insert(at, Chunk { start: chunk_start, first: 0, buckets: Vec::new() });
                    at
                }
            },
        };
        let (bucket, grown) = self.chunks[at].slot(i);
        self.held += grown;
        bucket
    }
}

impl BucketChunks {
    /// Index of the first chunk starting at or after `t`.
    fn index_from(&self, t: i64) -> usize {
        self.chunks.partition_point(|c| c.start < t)
    }

    /// The chunks whose start is in `[from, to)`.
    fn chunks_in(&self, from: i64, to: Timestamp) -> &[Chunk] {
        let (i, j) = (self.index_from(from), self.index_from(to.as_nanos()));
        &self.chunks[i..j.max(i)]
    }

    /// The bucket starting at `start` (aligned), if anything touched it.
    pub fn get(&self, start: Timestamp) -> Option<&Bucket> {
        let (chunk_start, i) = split(start);
        let c = &self.chunks[self.chunks.binary_search_by_key(&chunk_start, |c| c.start).ok()?];
        i.checked_sub(c.first).and_then(|k| c.buckets.get(k)).filter(|b| **b != Bucket::default())
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
    pub fn set(&mut self, start: Timestamp, b: Bucket) {
        *self.bucket(start) = b;
    }

    /// Clears the buckets starting in `[from, to)`; drops chunks left empty.
    pub fn clear_range(&mut self, from: Timestamp, to: Timestamp) {
        if from >= to {
            return;
        }
        let (i, j) = (self.index_from(chunk_floor(from)), self.index_from(to.as_nanos()));
        let (from, to) = (from.as_nanos(), to.as_nanos());
        let mut dropped = 0;
        for c in &mut self.chunks[i..j.max(i)] {
            let run = c.run_start();
            for (k, b) in c.buckets.iter_mut().enumerate() {
                let s = run + k as i64 * BUCKET_NS;
                if s >= from && s < to {
                    *b = Bucket::default();
                }
            }
            if c.buckets.iter().all(|b| *b == Bucket::default()) {
                dropped += c.buckets.len();
                c.buckets = Vec::new();
            }
        }
        self.held -= dropped;
        self.chunks.retain(|c| !c.buckets.is_empty());
    }

    /// Touched buckets starting in `[from, to)`, in order.
    pub fn range(&self, from: Timestamp, to: Timestamp) -> impl Iterator<Item = (Timestamp, &Bucket)> + '_ {
        let chunks = if from >= to { &[][..] } else { self.chunks_in(chunk_floor(from), to) };
        chunks.iter().flat_map(Chunk::iter).filter(move |(s, b)| *s >= from && *s < to && **b != Bucket::default())
    }

    /// Calls `f(start, bucket)` for every touched bucket starting in `[from, to)`, in order;
    /// bounds are checked on the edge chunks only.
    pub fn for_each(&self, from: Timestamp, to: Timestamp, mut f: impl FnMut(Timestamp, &Bucket)) {
        if from >= to {
            return;
        }
        for c in self.chunks_in(chunk_floor(from), to) {
            let inner = c.start >= from.as_nanos() && c.start.saturating_add(CHUNK_NS) <= to.as_nanos();
            for (s, b) in c.iter() {
                if (inner || (s >= from && s < to)) && *b != Bucket::default() {
                    f(s, b);
                }
            }
        }
    }

    /// The `n` buckets starting at `first` (aligned) as ranking slots, dense.
    pub fn dense_slots(&self, first: Timestamp, n: usize) -> Vec<Slot> {
        let mut out = vec![Slot::default(); n];
        let to = first.plus_ns(n as i64 * BUCKET_NS);
        let first_chunk = split(first).0;
        let first = first.as_nanos();
        for c in self.chunks_in(first_chunk, to) {
            // Output index of the run's first bucket (one division per chunk, none per bucket);
            // the run's buckets inside [0, n) are copied as one zipped run (no per-bucket checks).
            let base = (c.run_start() - first).div_euclid(BUCKET_NS);
            let skip = usize::try_from(-base).unwrap_or(0).min(c.buckets.len());
            let start = usize::try_from(base).unwrap_or(0).min(n);
            let len = (c.buckets.len() - skip).min(n - start);
            for (o, b) in out[start..start + len].iter_mut().zip(&c.buckets[skip..skip + len]) {
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
    pub fn clone_range(&self, from: Timestamp, to: Timestamp) -> BucketChunks {
        if from >= to {
            return BucketChunks::default();
        }
        let chunks = self.chunks_in(chunk_floor(from), to).to_vec();
        let held = chunks.iter().map(|c| c.buckets.len()).sum();
        BucketChunks { chunks, held }
    }

    /// Takes out the chunks starting in `[from, to)` (chunk-aligned bounds, such as months).
    pub fn take_range(&mut self, from: Timestamp, to: Timestamp) -> BucketChunks {
        if from >= to {
            return BucketChunks::default();
        }
        let (i, j) = (self.index_from(from.as_nanos()), self.index_from(to.as_nanos()));
        let chunks: Vec<Chunk> = self.chunks.drain(i..j.max(i)).collect();
        let held = chunks.iter().map(|c| c.buckets.len()).sum();
        self.held -= held;
        BucketChunks { chunks, held }
    }

    /// Moves `other`'s chunks in, replacing chunks with the same start.
    pub fn absorb(&mut self, other: BucketChunks) {
        for c in other.chunks {
            self.held += c.buckets.len();
            match self.chunks.binary_search_by_key(&c.start, |x| x.start) {
                Ok(at) => {
                    self.held -= self.chunks[at].buckets.len();
                    self.chunks[at] = c;
                }
                Err(at) => self.chunks.insert(at, c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ns: i64) -> Timestamp {
        Timestamp::from_nanos(ns)
    }

    #[test]
    fn set_get_range_dense_and_clear() {
        let mut d = BucketChunks::default();
        let b = |bytes| Bucket { bytes, covered_ns: BUCKET_NS, ..Bucket::default() };
        let chunk_start = 480_000 * CHUNK_NS;
        d.set(at(chunk_start - BUCKET_NS), b(1));
        d.set(at(chunk_start), b(2));
        d.set(at(chunk_start + 5 * BUCKET_NS), b(3));
        assert_eq!(d.chunks(), 2);
        assert_eq!(d.get(at(chunk_start)).map(|x| x.bytes), Some(2));
        assert_eq!(d.get(at(chunk_start + BUCKET_NS)), None);
        let got: Vec<(i64, u64)> = d
            .range(at(chunk_start - BUCKET_NS), at(chunk_start + 5 * BUCKET_NS))
            .map(|(s, x)| (s.as_nanos(), x.bytes))
            .collect();
        assert_eq!(got, vec![(chunk_start - BUCKET_NS, 1), (chunk_start, 2)]);
        let dense: Vec<u64> = d.dense_slots(at(chunk_start - 2 * BUCKET_NS), 8).iter().map(|x| x.bytes).collect();
        assert_eq!(dense, vec![0, 1, 2, 0, 0, 0, 0, 3]);
        d.clear_range(Timestamp::MIN, at(chunk_start + BUCKET_NS));
        assert_eq!(d.chunks(), 1);
        assert_eq!(d.range(Timestamp::MIN, Timestamp::MAX).count(), 1);
        d.clear_range(at(chunk_start), Timestamp::MAX);
        assert_eq!(d.chunks(), 0);
    }

    #[test]
    fn chunks_grow_as_buckets_are_touched() {
        let mut d = BucketChunks::default();
        let b = Bucket { bytes: 1, covered_ns: BUCKET_NS, ..Bucket::default() };
        let c = 7 * CHUNK_NS;
        let mut held = Vec::new();
        for i in [0, 1, 2, 4, 5, 8, 16, 35] {
            d.set(at(c + i * BUCKET_NS), b);
            held.push(d.bytes() / BUCKET_BYTES);
        }
        assert_eq!(held, vec![1, 2, 4, 8, 8, 16, 32, 36], "at least doubling, never past the chunk");
        // A series first seen late in a chunk holds its run from there; late data before it
        // grows the run toward the chunk's start, at least doubling.
        let mut e = BucketChunks::default();
        e.set(at(c + 23 * BUCKET_NS), b);
        assert_eq!(e.bytes(), BUCKET_BYTES);
        e.set(at(c + 24 * BUCKET_NS), b);
        e.set(at(c + 22 * BUCKET_NS), b);
        assert_eq!(e.bytes(), 4 * BUCKET_BYTES, "runs 23..25, then 21..25");
        e.set(at(c + 10 * BUCKET_NS), b);
        assert_eq!(e.bytes(), 15 * BUCKET_BYTES, "run 10..25");
        let got: Vec<i64> =
            e.range(Timestamp::MIN, Timestamp::MAX).map(|(s, _)| (s.as_nanos() - c) / BUCKET_NS).collect();
        assert_eq!(got, vec![10, 22, 23, 24]);
        let dense: Vec<u64> = e.dense_slots(at(c + 21 * BUCKET_NS), 5).iter().map(|s| s.bytes).collect();
        assert_eq!(dense, vec![0, 1, 1, 1, 0]);
        assert_eq!(e.get(at(c + 22 * BUCKET_NS)).map(|x| x.bytes), Some(1));
        assert_eq!(
            (e.get(at(c + 21 * BUCKET_NS)), e.get(at(c + 30 * BUCKET_NS)), e.get(at(c + 9 * BUCKET_NS))),
            (None, None, None)
        );
        e.clear_range(at(c + 10 * BUCKET_NS), at(c + 11 * BUCKET_NS));
        let mut e = BucketChunks::default();
        e.set(at(c + 23 * BUCKET_NS), b);
        let dense: Vec<u64> = d.dense_slots(at(c - BUCKET_NS), 8).iter().map(|s| s.bytes).collect();
        assert_eq!(dense, vec![0, 1, 1, 1, 0, 1, 1, 0]);
        assert_eq!(d.range(at(c + 3 * BUCKET_NS), at(c + 40 * BUCKET_NS)).count(), 5);
        d.clear_range(Timestamp::MIN, Timestamp::MAX);
        assert_eq!((d.bytes(), d.chunk_count()), (0, 0));
        // Equal when the touched buckets are, however allocated.
        let mut f = BucketChunks::default();
        f.set(at(c + 23 * BUCKET_NS), b);
        f.set(at(c + 30 * BUCKET_NS), b);
        f.clear_range(at(c + 30 * BUCKET_NS), at(c + 31 * BUCKET_NS));
        assert_eq!(e, f);
    }

    #[test]
    fn take_clone_and_absorb_move_whole_chunks() {
        let mut d = BucketChunks::default();
        let b = |bytes| Bucket { bytes, covered_ns: BUCKET_NS, ..Bucket::default() };
        for i in 0..4 {
            d.set(at(i * CHUNK_NS + BUCKET_NS), b(i as u64 + 1));
        }
        let copy = d.clone_range(at(CHUNK_NS + 2 * BUCKET_NS), at(2 * CHUNK_NS + 1));
        assert_eq!(copy.range(Timestamp::MIN, Timestamp::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![2, 3]);
        let taken = d.take_range(at(CHUNK_NS), at(3 * CHUNK_NS));
        assert_eq!(taken.range(Timestamp::MIN, Timestamp::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(d.range(Timestamp::MIN, Timestamp::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![1, 4]);
        d.absorb(taken);
        assert_eq!(d.range(Timestamp::MIN, Timestamp::MAX).map(|(_, x)| x.bytes).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(d.chunk_count(), 4);
    }
}
