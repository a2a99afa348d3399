//! A set of series IDs as a scan filter tests it: once per row read, so membership is a bit test,
//! and once per segment or row group, so "any in `[min, max]`" is a binary search.

use std::collections::HashSet;

/// A set of series IDs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesSet {
    /// The IDs, sorted and unique.
    sorted: Vec<u32>,
    /// Bit `i` set when `min + i` is in the set.
    bits: Vec<u64>,
}

impl SeriesSet {
    /// Whether `id` is in the set.
    pub fn contains(&self, id: u32) -> bool {
        let Some(&min) = self.sorted.first() else { return false };
        let Some(off) = id.checked_sub(min) else { return false };
        let off = off as usize;
        self.bits.get(off / 64).is_some_and(|w| w & (1 << (off % 64)) != 0)
    }

    /// Whether any ID of the set lies in `[min, max]`.
    pub fn any_in(&self, min: u32, max: u32) -> bool {
        let i = self.sorted.partition_point(|&x| x < min);
        self.sorted.get(i).is_some_and(|&x| x <= max)
    }

    /// The IDs, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.sorted.iter().copied()
    }

    /// How many IDs.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

impl FromIterator<u32> for SeriesSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut sorted: Vec<u32> = iter.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut bits = Vec::new();
        if let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) {
            bits = vec![0u64; (max - min) as usize / 64 + 1];
            for &x in &sorted {
                let off = (x - min) as usize;
                bits[off / 64] |= 1 << (off % 64);
            }
        }
        Self { sorted, bits }
    }
}

impl From<HashSet<u32>> for SeriesSet {
    fn from(set: HashSet<u32>) -> Self {
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_and_ranges() {
        let s: SeriesSet = [70u32, 5, 200, 5].into_iter().collect();
        assert_eq!(s.iter().collect::<Vec<_>>(), [5, 70, 200]);
        for (id, yes) in [(4, false), (5, true), (6, false), (69, false), (70, true), (200, true), (201, false)] {
            assert_eq!(s.contains(id), yes, "{id}");
        }
        assert!(s.any_in(0, 5) && s.any_in(6, 70) && s.any_in(200, u32::MAX));
        assert!(!s.any_in(0, 4) && !s.any_in(6, 69) && !s.any_in(71, 199) && !s.any_in(201, u32::MAX));
        let empty = SeriesSet::default();
        assert!(!empty.contains(0) && !empty.any_in(0, u32::MAX) && empty.is_empty());
    }
}
