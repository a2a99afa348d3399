//! The bucket table's error.

use crate::store::StoreError;
use crate::store::observer::Behind;

/// Why the bucket table could not answer: the store failed, the archive of closed months failed
/// (corrupt files are reported here, never returned as data), or the table's observer is too far
/// behind the store. Metering's own error, so the store knows nothing of buckets.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The archive of closed months' 5-minute buckets failed.
    #[error(transparent)]
    Archive(#[from] crate::metering::bucket_archive::ArchiveError),
    /// Derived state (the observer) is too far behind the store.
    #[error(transparent)]
    Behind(#[from] Behind),
}

impl From<crate::store::segment::SegmentError> for BucketError {
    fn from(e: crate::store::segment::SegmentError) -> Self {
        BucketError::Store(e.into())
    }
}
