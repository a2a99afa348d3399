//! Derived state kept current with the store: the writer thread tells an observer of every
//! committed batch after it is durable and in the buffer, and before the writer is acknowledged.
//! Observers must be quick (they run on the writer thread) and must never fail a write: what
//! they cannot do at once they note and do later.

use super::reading::Reading;
use super::registry::Registry;

/// Told of every committed batch.
pub trait CommitObserver: Send + Sync {
    /// `readings` were committed; `registry` resolves their series.
    fn committed(&self, registry: &Registry, readings: &[Reading]);
}
