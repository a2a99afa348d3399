//! Why a device's poll cycle failed, classified (#29: the collectors keep the classification
//! instead of flattening errors to strings): the device status, the operator dashboard and the
//! device API show the message and its [`PollErrorKind`], and the scheduler decides from the
//! kind, not from text.

use crate::discovery::DiscoveryError;
use crate::snmp::session::SnmpError;

/// Why a poll cycle failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// The device's host name does not resolve (kept as text: `io::Error` is not `Clone`).
    #[error("cannot resolve {host}: {message}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        message: String,
    },
    /// The host name resolved to no address.
    #[error("{0} has no address")]
    NoAddress(String),
    /// Discovery failed.
    #[error("discovery: {0}")]
    Discovery(#[from] DiscoveryError),
    /// A poll request failed.
    #[error(transparent)]
    Snmp(#[from] SnmpError),
    /// The cycle ran longer than the device's interval and was abandoned.
    #[error("poll cycle exceeded the {interval_s}s interval")]
    Overran {
        /// The interval, seconds.
        interval_s: u32,
    },
}

/// What kind of failure a [`PollError`] is, for operators and for retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollErrorKind {
    /// No answer in time (the device is down, unreachable or overloaded): retried next tick.
    Timeout,
    /// The address cannot be found or used (DNS, socket): a configuration or network problem.
    Unreachable,
    /// Answers that cannot be decoded or do not belong to the request — also how SNMPv3
    /// authentication and community mismatches show.
    BadResponse,
    /// The agent answered with an error status (a vanished cell on v1: rediscovered).
    Agent,
    /// No profile knows the device (or a walk misbehaved): needs a profile or a fix on the device.
    Unsupported,
}

impl PollErrorKind {
    /// The name shown in the API and the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::BadResponse => "bad_response",
            Self::Agent => "agent_error",
            Self::Unsupported => "unsupported",
        }
    }
}

impl PollError {
    /// Its kind.
    pub fn kind(&self) -> PollErrorKind {
        match self {
            Self::Resolve { .. } | Self::NoAddress(_) => PollErrorKind::Unreachable,
            Self::Overran { .. } => PollErrorKind::Timeout,
            Self::Discovery(DiscoveryError::Snmp(e)) | Self::Snmp(e) => snmp_kind(e),
            Self::Discovery(DiscoveryError::NoProfile { .. }) => PollErrorKind::Unsupported,
        }
    }
}

fn snmp_kind(e: &SnmpError) -> PollErrorKind {
    match e {
        SnmpError::Timeout { .. } => PollErrorKind::Timeout,
        SnmpError::Io(_) => PollErrorKind::Unreachable,
        SnmpError::BadResponse(_) | SnmpError::Mismatch(_) => PollErrorKind::BadResponse,
        SnmpError::Agent { .. } => PollErrorKind::Agent,
        SnmpError::BadOid(_) | SnmpError::WalkLoop { .. } | SnmpError::WalkTooLong { .. } => PollErrorKind::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_kind() {
        assert_eq!(PollError::Snmp(SnmpError::Timeout { attempts: 3 }).kind(), PollErrorKind::Timeout);
        assert_eq!(PollError::NoAddress("pdu-1".into()).kind(), PollErrorKind::Unreachable);
        assert_eq!(
            PollError::Discovery(DiscoveryError::Snmp(SnmpError::BadResponse("auth".into()))).kind(),
            PollErrorKind::BadResponse
        );
        assert_eq!(PollError::Snmp(SnmpError::Agent { status: 2, index: 1 }).kind(), PollErrorKind::Agent);
        assert_eq!(PollError::Overran { interval_s: 10 }.kind().as_str(), "timeout");
        assert_eq!(
            PollError::Overran { interval_s: 10 }.to_string(),
            "poll cycle exceeded the 10s interval",
            "the message operators saw before is kept"
        );
    }
}
