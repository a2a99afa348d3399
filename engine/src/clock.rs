//! The injected clock: domain code never reads the system time directly.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::time::Timestamp;

/// A source of "now".
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // A system clock before 1970 or after 2262 is a broken machine; clamp rather than panic.
        Timestamp::from_datetime(chrono::Utc::now()).unwrap_or(Timestamp::MAX)
    }
}

/// A clock that only moves when told to: for tests and for replaying history.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock standing at `t`.
    pub fn new(t: Timestamp) -> Self {
        Self(AtomicI64::new(t.as_nanos()))
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.as_nanos(), Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.0.load(Ordering::SeqCst))
    }
}
