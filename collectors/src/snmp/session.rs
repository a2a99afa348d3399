//! One device's SNMP session: requests with a timeout each, retries with exponential backoff, and
//! a fresh socket after any failure.
//!
//! snmp2's `AsyncSession` has neither timeout nor retry, and a reply that arrives after its
//! request timed out would be rejected by the next request as an ID mismatch. So a failed attempt
//! drops the session (and its socket): late replies land on a closed port and the retry starts
//! clean. Between poll cycles ([`Session::idle`]) a v1/v2c session keeps its socket only while a
//! bounded keep budget allows (snmp2 allocates and zeroes two 64 KiB buffers per session, the
//! largest cost of a small poll); the others close, so idle devices beyond the budget hold
//! nothing. v3 sessions are kept, since making one costs an engine-discovery round trip.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use snmp2::AsyncSession;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::value::SnmpValue;
use crate::oid::Oid;

/// SNMP credentials.
#[derive(Clone)]
pub enum Credentials {
    /// SNMPv1 community.
    V1(Vec<u8>),
    /// SNMPv2c community.
    V2c(Vec<u8>),
    /// SNMPv3 USM security (user, protocols, pass phrases); cloned into each new session.
    V3(Box<snmp2::v3::Security>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.write_str(match self {
            Self::V1(_) => "v1",
            Self::V2c(_) => "v2c",
            Self::V3(_) => "v3",
        })
    }
}

/// Where a device is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The agent's address.
    pub addr: SocketAddr,
    /// Version and credentials.
    pub credentials: Credentials,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one (capped at 8x).
    pub backoff: Duration,
    /// Varbinds per GET request.
    pub max_varbinds: usize,
    /// GETBULK max-repetitions.
    pub max_repetitions: u32,
    /// The most rows one walk may return (an agent that never ends a table is an error).
    pub max_walk_rows: usize,
}

impl Target {
    /// A target with the usual settings: 2 s timeout, 2 retries, 40 varbinds, 25 repetitions.
    pub fn new(addr: SocketAddr, credentials: Credentials) -> Self {
        Self {
            addr,
            credentials,
            timeout: Duration::from_secs(2),
            retries: 2,
            backoff: Duration::from_millis(100),
            max_varbinds: 40,
            max_repetitions: 25,
            max_walk_rows: 100_000,
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    /// No answer within the timeout, on every attempt.
    #[error("no response after {attempts} attempts")]
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
    /// The response could not be decoded, or did not belong to the request (wrong request ID,
    /// community, type), or failed authentication.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The response decoded but its varbinds do not answer the request.
    #[error("response varbinds do not match the request: {0}")]
    Mismatch(String),
    /// The agent answered with an error status.
    #[error("agent error status {status} at varbind {index}")]
    Agent {
        /// SNMP error-status.
        status: u32,
        /// SNMP error-index.
        index: u32,
    },
    /// A socket could not be opened or used.
    #[error("socket: {0}")]
    Io(String),
    /// An OID cannot be encoded.
    #[error("OID {0} cannot be encoded")]
    BadOid(String),
    /// A walk did not advance (the agent returned an OID not after the last one).
    #[error("walk of {root} did not advance at {at}")]
    WalkLoop {
        /// The walked column.
        root: String,
        /// Where it stuck.
        at: String,
    },
    /// A walk returned more rows than allowed.
    #[error("walk of {root} exceeded {limit} rows")]
    WalkTooLong {
        /// The walked column.
        root: String,
        /// The limit.
        limit: usize,
    },
}

impl SnmpError {
    /// Whether another attempt may help (timeouts and garbled or foreign replies).
    fn retryable(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::BadResponse(_) | Self::Mismatch(_) | Self::Io(_))
    }
}

/// Attempt outcomes since the last [`Session::take_counts`]: the poller adds them to metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AttemptCounts {
    /// Requests sent.
    pub requests: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts that got a bad or foreign response.
    pub bad_responses: u64,
}

/// A varbind list, owned.
pub type Varbinds = Vec<(Oid, SnmpValue)>;

/// SNMP error-status `tooBig`.
const TOO_BIG: u32 = 1;

/// A device's session.
pub struct Session {
    target: Target,
    live: Option<AsyncSession>,
    next_req_id: i32,
    counts: AttemptCounts,
    keep: Option<Arc<Semaphore>>,
    kept: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("target", &self.target).field("open", &self.live.is_some()).finish()
    }
}

enum Op<'a> {
    Get(&'a [Oid]),
    Prepared(&'a Prepared),
    Bulk(&'a Oid),
    Next(&'a Oid),
}

/// OIDs encoded once for a GET repeated every cycle: no per-request encoding, and the answer's
/// OIDs are checked by their encoded bytes without decoding them.
#[derive(Debug, Clone)]
pub struct Prepared {
    oids: Vec<snmp2::Oid<'static>>,
}

impl Prepared {
    /// Encodes `oids`.
    pub fn new(oids: &[Oid]) -> Result<Self, SnmpError> {
        Ok(Self { oids: oids.iter().map(to_snmp2).collect::<Result<_, _>>()? })
    }

    /// How many OIDs.
    pub fn len(&self) -> usize {
        self.oids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.oids.is_empty()
    }
}

fn to_snmp2(o: &Oid) -> Result<snmp2::Oid<'static>, SnmpError> {
    let parts: Vec<u64> = o.parts().iter().map(|&p| u64::from(p)).collect();
    snmp2::Oid::from(&parts).map_err(|_| SnmpError::BadOid(o.to_string()))
}

fn from_snmp2(o: &snmp2::Oid<'_>) -> Option<Oid> {
    o.iter()?.map(|p| u32::try_from(p).ok()).collect::<Option<Vec<_>>>().map(Oid::from_parts)
}

impl Session {
    /// A session to `target`; the socket opens with the first request.
    pub fn new(target: Target, first_req_id: i32) -> Self {
        Self {
            target,
            live: None,
            next_req_id: first_req_id & 0x3fff_ffff,
            counts: AttemptCounts::default(),
            keep: None,
            kept: None,
        }
    }

    /// Lets an idle v1/v2c session keep its socket while `budget` has a permit: opening one
    /// costs two zeroed 64 KiB buffers (snmp2's), the largest part of a small poll's CPU, so a
    /// bounded number of devices (the budget is memory: 128 KiB each) keep theirs.
    pub fn with_keep_budget(mut self, budget: Arc<Semaphore>) -> Self {
        self.keep = Some(budget);
        self
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The attempt counts since the last call, reset.
    pub fn take_counts(&mut self) -> AttemptCounts {
        std::mem::take(&mut self.counts)
    }

    /// Releases the socket between poll cycles (v1/v2c; a v3 session keeps its engine state).
    pub fn idle(&mut self) {
        if matches!(self.target.credentials, Credentials::V3(_)) || self.live.is_none() {
            return;
        }
        if self.kept.is_none() {
            self.kept = self.keep.as_ref().and_then(|b| Arc::clone(b).try_acquire_owned().ok());
        }
        if self.kept.is_none() {
            self.live = None;
        }
    }

    /// Drops the socket (after a failure) and gives its keep permit back.
    fn close(&mut self) {
        self.live = None;
        self.kept = None;
    }

    async fn open(&mut self) -> Result<&mut AsyncSession, SnmpError> {
        if self.live.is_none() {
            let id = self.next_req_id;
            // Leave room for this session's IDs; a new socket never sees the old one's replies.
            self.next_req_id = self.next_req_id.wrapping_add(1 << 16) & 0x3fff_ffff;
            let io = |e: std::io::Error| SnmpError::Io(e.to_string());
            let s = match &self.target.credentials {
                Credentials::V1(c) => AsyncSession::new_v1(self.target.addr, c, id).await.map_err(io)?,
                Credentials::V2c(c) => AsyncSession::new_v2c(self.target.addr, c, id).await.map_err(io)?,
                Credentials::V3(sec) => {
                    let mut s = AsyncSession::new_v3(self.target.addr, id, (**sec).clone()).await.map_err(io)?;
                    self.counts.requests += 1;
                    match tokio::time::timeout(self.target.timeout, s.init()).await {
                        Err(_) => return Err(SnmpError::Timeout { attempts: 1 }),
                        Ok(Err(e)) => return Err(SnmpError::BadResponse(e.to_string())),
                        Ok(Ok(())) => s,
                    }
                }
            };
            self.live = Some(s);
        }
        self.live.as_mut().ok_or_else(|| SnmpError::Io("session not open".into()))
    }

    /// One attempt of one request.
    async fn attempt(&mut self, op: &Op<'_>) -> Result<Varbinds, SnmpError> {
        let timeout = self.target.timeout;
        let max_rep = self.target.max_repetitions;
        let encoded: Vec<snmp2::Oid<'static>> = match op {
            Op::Get(list) => list.iter().map(to_snmp2).collect::<Result<_, _>>()?,
            Op::Prepared(_) => Vec::new(),
            Op::Bulk(o) | Op::Next(o) => vec![to_snmp2(o)?],
        };
        let refs: Vec<&snmp2::Oid<'_>> = match op {
            Op::Prepared(p) => p.oids.iter().collect(),
            _ => encoded.iter().collect(),
        };
        self.counts.requests += 1;
        let s = self.open().await?;
        let fut = async {
            let pdu = match op {
                Op::Get(_) | Op::Prepared(_) => s.get_many(&refs).await,
                Op::Bulk(_) => s.getbulk(&refs, 0, max_rep).await,
                Op::Next(_) => s.getnext(refs[0]).await,
            }
            .map_err(|e| SnmpError::BadResponse(e.to_string()))?;
            match op {
                Op::Prepared(p) => prepared_values(&pdu, p),
                _ => owned(&pdu),
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(SnmpError::Timeout { attempts: 1 }),
            Ok(r) => r,
        }
    }

    /// A request with retries: a failed attempt drops the socket; the next waits with backoff.
    async fn request(&mut self, op: Op<'_>) -> Result<Varbinds, SnmpError> {
        let mut wait = self.target.backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let r = self.attempt(&op).await;
            let r = r.and_then(|vb| check(&op, vb));
            match r {
                Ok(vb) => return Ok(vb),
                Err(e) => {
                    self.close();
                    match e {
                        SnmpError::Timeout { .. } => self.counts.timeouts += 1,
                        SnmpError::BadResponse(_) | SnmpError::Mismatch(_) => self.counts.bad_responses += 1,
                        _ => {}
                    }
                    if !e.retryable() || attempts > self.target.retries {
                        return Err(match e {
                            SnmpError::Timeout { .. } => SnmpError::Timeout { attempts },
                            other => other,
                        });
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.target.backoff * 8);
                }
            }
        }
    }

    /// One GET of prepared OIDs (with retries): the values in order, their OIDs already checked.
    pub async fn get_prepared(&mut self, p: &Prepared) -> Result<Vec<SnmpValue>, SnmpError> {
        Ok(self.request(Op::Prepared(p)).await?.into_iter().map(|(_, v)| v).collect())
    }

    /// GET of any number of OIDs, in requests of at most `max_varbinds` (halved on `tooBig`).
    /// The answer has one entry per OID, in order.
    pub async fn get(&mut self, oids: &[Oid]) -> Result<Varbinds, SnmpError> {
        let mut out = Vec::with_capacity(oids.len());
        let mut chunk = self.target.max_varbinds.max(1);
        let mut rest = oids;
        while !rest.is_empty() {
            let n = chunk.min(rest.len());
            match self.request(Op::Get(&rest[..n])).await {
                Ok(vb) => {
                    out.extend(vb);
                    rest = &rest[n..];
                }
                Err(SnmpError::Agent { status: TOO_BIG, .. }) if n > 1 => chunk = n / 2,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The first `(oid, value)` under `root`, if any (one GETNEXT): whether a column has rows.
    pub async fn walk_first(&mut self, root: &Oid) -> Result<Varbinds, SnmpError> {
        let vb = match self.request(Op::Next(root)).await {
            Ok(vb) => vb,
            Err(SnmpError::Agent { status: 2, .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(vb.into_iter().take(1).filter(|(o, v)| o.starts_with(root) && v.is_present()).collect())
    }

    /// Every `(oid, value)` under `root`, in order: GETBULK for v2c/v3, GETNEXT for v1.
    pub async fn walk(&mut self, root: &Oid) -> Result<Varbinds, SnmpError> {
        let bulk = !matches!(self.target.credentials, Credentials::V1(_));
        let mut out: Varbinds = Vec::new();
        let mut last = root.clone();
        loop {
            let op = if bulk { Op::Bulk(&last) } else { Op::Next(&last) };
            let vb = match self.request(op).await {
                Ok(vb) => vb,
                // v1 agents end a walk with noSuchName.
                Err(SnmpError::Agent { status: 2, .. }) if !bulk => return Ok(out),
                Err(e) => return Err(e),
            };
            if vb.is_empty() {
                return Ok(out);
            }
            for (oid, value) in vb {
                if !oid.starts_with(root) || value == SnmpValue::EndOfMibView {
                    return Ok(out);
                }
                if oid <= last {
                    return Err(SnmpError::WalkLoop { root: root.to_string(), at: oid.to_string() });
                }
                last = oid.clone();
                out.push((oid, value));
                if out.len() > self.target.max_walk_rows {
                    return Err(SnmpError::WalkTooLong { root: root.to_string(), limit: self.target.max_walk_rows });
                }
            }
        }
    }
}

/// A response's varbinds, owned; an agent error status is an error.
fn owned(pdu: &snmp2::Pdu<'_>) -> Result<Varbinds, SnmpError> {
    if pdu.error_status != 0 {
        return Err(SnmpError::Agent { status: pdu.error_status, index: pdu.error_index });
    }
    let mut out = Vec::new();
    for (oid, value) in pdu.varbinds.clone() {
        let oid = from_snmp2(&oid).ok_or_else(|| SnmpError::BadResponse("undecodable OID".into()))?;
        out.push((oid, SnmpValue::from_snmp2(&value)));
    }
    Ok(out)
}

/// A prepared GET's answer: exactly the asked OIDs (compared encoded), in order; values only
/// (the OIDs are left empty: the caller knows them).
fn prepared_values(pdu: &snmp2::Pdu<'_>, p: &Prepared) -> Result<Varbinds, SnmpError> {
    if pdu.error_status != 0 {
        return Err(SnmpError::Agent { status: pdu.error_status, index: pdu.error_index });
    }
    let mut out = Vec::with_capacity(p.oids.len());
    for (k, (oid, value)) in pdu.varbinds.clone().enumerate() {
        match p.oids.get(k) {
            Some(asked) if *asked == oid => out.push((Oid::default(), SnmpValue::from_snmp2(&value))),
            Some(asked) => return Err(SnmpError::Mismatch(format!("asked for {asked}, got {oid}"))),
            None => return Err(SnmpError::Mismatch(format!("more than the {} values asked for", p.oids.len()))),
        }
    }
    if out.len() != p.oids.len() {
        return Err(SnmpError::Mismatch(format!("asked for {} values, got {}", p.oids.len(), out.len())));
    }
    Ok(out)
}

/// Decodes a v1/v2c response datagram as the session does: request ID and owned varbinds, or
/// why it is unusable. For the fuzz target and property tests of response handling.
pub fn decode_response(bytes: &[u8], asked: &[Oid]) -> Result<(i32, Varbinds), SnmpError> {
    let pdu = snmp2::Pdu::from_bytes(bytes).map_err(|e| SnmpError::BadResponse(e.to_string()))?;
    if pdu.message_type != snmp2::MessageType::Response {
        return Err(SnmpError::BadResponse("not a response".into()));
    }
    let vb = owned(&pdu)?;
    let vb = if asked.is_empty() { vb } else { check(&Op::Get(asked), vb)? };
    Ok((pdu.req_id, vb))
}

/// A GET must answer each requested OID once, in order; a walk step at most `max_rep` rows.
fn check(op: &Op<'_>, vb: Varbinds) -> Result<Varbinds, SnmpError> {
    if let Op::Get(asked) = op {
        if vb.len() != asked.len() {
            return Err(SnmpError::Mismatch(format!("asked for {} values, got {}", asked.len(), vb.len())));
        }
        if let Some((a, (got, _))) = asked.iter().zip(&vb).find(|(a, (got, _))| a != &got) {
            return Err(SnmpError::Mismatch(format!("asked for {a}, got {got}")));
        }
    }
    Ok(vb)
}
