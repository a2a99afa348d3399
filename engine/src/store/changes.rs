//! What changed, in which time range: a bounded log of the ranges each change touched (a
//! commit's readings, a retention drop, a rebuilt range of the bucket table), so a result
//! derived earlier (a cached usage object) can tell whether it still holds.
//!
//! The log never forgets, it coarsens: when full, its two oldest entries merge into one with the
//! later version and the union of the ranges. A question about anything after a version is then
//! answered with a superset of what changed since: a cached result may be recomputed needlessly,
//! never served stale.

use std::collections::VecDeque;

use crate::time::Timestamp;

crate::typed_id!(
    int
    /// A change log's version: 0 before anything was recorded, one more per change.
    ChangeVersion: u64
);

/// Entries kept before the oldest start merging.
pub const CHANGE_LOG_ENTRIES: usize = 1024;

/// One change: everything in `[from, to)` may differ from before `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    version: ChangeVersion,
    from: Timestamp,
    to: Timestamp,
}

/// The log (see the module docs). Versions start at 0 (nothing recorded) and grow by one per
/// change recorded.
#[derive(Debug, Default)]
pub struct ChangeLog {
    version: ChangeVersion,
    entries: VecDeque<Change>,
}

impl ChangeLog {
    /// Records that `[from, to)` changed; an empty range changes nothing. Returns the version
    /// after the change.
    pub fn record(&mut self, from: Timestamp, to: Timestamp) -> ChangeVersion {
        if from >= to {
            return self.version;
        }
        self.version = self.version.next();
        if self.entries.len() >= CHANGE_LOG_ENTRIES
            && let (Some(a), Some(b)) = (self.entries.pop_front(), self.entries.pop_front())
        {
            self.entries.push_front(Change { version: b.version, from: a.from.min(b.from), to: a.to.max(b.to) });
        }
        self.entries.push_back(Change { version: self.version, from, to });
        self.version
    }

    /// The version: every change recorded so far is at or below it.
    pub fn version(&self) -> ChangeVersion {
        self.version
    }

    /// Whether a change recorded after `since` may have touched `[from, to)`.
    pub fn touched_since(&self, since: ChangeVersion, from: Timestamp, to: Timestamp) -> bool {
        from < to && self.entries.iter().rev().take_while(|c| c.version > since).any(|c| c.from < to && from < c.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V0: ChangeVersion = ChangeVersion(0);

    fn t(ns: i64) -> Timestamp {
        Timestamp::from_nanos(ns)
    }

    #[test]
    fn a_change_is_seen_only_after_its_version_and_only_where_it_was() {
        let mut log = ChangeLog::default();
        assert_eq!((log.version(), log.record(t(5), t(5))), (V0, V0), "an empty range changes nothing");
        let v1 = log.record(t(100), t(200));
        let v2 = log.record(t(1_000), t(1_001));
        assert_eq!((v1, v2, log.version()), (ChangeVersion(1), ChangeVersion(2), ChangeVersion(2)));
        assert!(
            log.touched_since(V0, t(150), t(160))
                && log.touched_since(V0, t(199), t(300))
                && log.touched_since(V0, t(0), t(101))
        );
        assert!(!log.touched_since(V0, t(200), t(1_000)) && !log.touched_since(V0, t(0), t(100)), "half-open ranges");
        assert!(!log.touched_since(v1, t(100), t(200)), "seen already at v1");
        assert!(log.touched_since(v1, t(1_000), t(2_000)) && !log.touched_since(v2, t(0), Timestamp::MAX));
        assert!(!log.touched_since(V0, t(300), t(300)), "an empty question");
    }

    #[test]
    fn a_full_log_coarsens_instead_of_forgetting() {
        let mut log = ChangeLog::default();
        // A late write into [0, 10) first, then a long run of "now" writes far away.
        log.record(t(0), t(10));
        let after_late = log.version();
        for k in 0..(3 * CHANGE_LOG_ENTRIES as i64) {
            log.record(t(1_000_000 + k), t(1_000_001 + k));
        }
        assert_eq!(log.entries.len(), CHANGE_LOG_ENTRIES);
        assert!(log.touched_since(V0, t(5), t(6)), "the late write is still answered for");
        // The oldest entries merged into one reaching from the late write to the first far
        // writes, under a later version: asked after the late write, [0, 10) now reads as
        // touched (a needless recompute), never the other way round.
        assert!(log.touched_since(after_late, t(5), t(6)));
        assert!(log.touched_since(after_late, t(1_000_000), t(1_000_001)));
        assert!(!log.touched_since(log.version(), t(0), Timestamp::MAX));
        // The newest writes keep their exact ranges.
        let v = log.version();
        log.record(t(50), t(60));
        assert!(log.touched_since(v, t(55), t(56)) && !log.touched_since(v, t(60), t(1_000_000)));
    }
}
