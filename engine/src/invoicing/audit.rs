//! The append-only audit log: who changed what, when. Each entry's hash covers the previous
//! entry's hash and its own fields (length-prefixed, so no two entries encode alike), so editing,
//! removing or reordering any entry breaks every hash after it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position, from 1, without gaps.
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// Who: a token ID, or `cli:<command>`.
    pub actor: String,
    /// What was done (`invoice.finalize`, `billing_run`, `inventory.import` …).
    pub action: String,
    /// What it was done to.
    pub object: String,
    /// Details (JSON text).
    pub detail: String,
    /// The previous entry's hash (hex).
    #[serde(serialize_with = "hex_ser")]
    pub prev_hash: [u8; 32],
    /// This entry's hash (hex).
    #[serde(serialize_with = "hex_ser")]
    pub hash: [u8; 32],
}

fn hex_ser<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// The hash of an entry's fields after `prev`.
pub fn hash(
    prev: &[u8; 32],
    seq: i64,
    at: Timestamp,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.as_nanos().to_be_bytes());
    for field in [actor, action, object, detail] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A sequence number is missing or out of order.
    #[error("audit entry {found} follows {previous}: entries are missing or reordered")]
    Gap {
        /// The previous entry's seq.
        previous: i64,
        /// This entry's seq.
        found: i64,
    },
    /// An entry does not link to its predecessor, or its hash does not match its fields.
    #[error("audit entry {0} was altered (its hash does not match)")]
    Altered(i64),
}

/// Checks a whole chain, in order.
pub fn verify(entries: &[Entry]) -> Result<(), ChainError> {
    let (mut prev, mut prev_seq) = (GENESIS, 0);
    for e in entries {
        if e.seq != prev_seq + 1 {
            return Err(ChainError::Gap { previous: prev_seq, found: e.seq });
        }
        if e.prev_hash != prev || hash(&prev, e.seq, e.at, &e.actor, &e.action, &e.object, &e.detail) != e.hash {
            return Err(ChainError::Altered(e.seq));
        }
        (prev, prev_seq) = (e.hash, e.seq);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map_or(GENESIS, |e| e.hash);
            let at = Timestamp::from_secs(seq);
            let (actor, action, object, detail) = ("tok", "invoice.finalize", format!("inv-{seq}"), "{}");
            let hash = hash(&prev, seq, at, actor, action, &object, detail);
            out.push(Entry {
                seq,
                at,
                actor: actor.into(),
                action: action.into(),
                object,
                detail: detail.into(),
                prev_hash: prev,
                hash,
            });
        }
        out
    }

    #[test]
    fn tampering_shows() {
        let good = chain(4);
        assert_eq!(verify(&good), Ok(()));
        let mut edited = good.clone();
        edited[1].actor = "someone-else".into();
        assert_eq!(verify(&edited), Err(ChainError::Altered(2)));
        let mut removed = good.clone();
        removed.remove(2);
        assert_eq!(verify(&removed), Err(ChainError::Gap { previous: 2, found: 4 }));
        // Re-hashing an edited entry does not help: the next one no longer links to it.
        let mut rehashed = good.clone();
        rehashed[1].object = "inv-x".into();
        let e = &rehashed[1];
        rehashed[1].hash = hash(&e.prev_hash, e.seq, e.at, &e.actor, &e.action, &e.object, &e.detail);
        assert_eq!(verify(&rehashed), Err(ChainError::Altered(3)));
        // Field boundaries are unambiguous.
        assert_ne!(
            hash(&GENESIS, 1, Timestamp::from_secs(0), "ab", "c", "", ""),
            hash(&GENESIS, 1, Timestamp::from_secs(0), "a", "bc", "", "")
        );
    }
}
