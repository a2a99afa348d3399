//! The simulator's UDP agent: decode with snmp2, look the community up, answer from the model.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use engine::clock::Clock;
use snmp2::{MessageType, Pdu, Version};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::ber::{Writer, tag};
use super::model::{Device, Kind, Shape, SimValue, Tree};

/// Requests answered and dropped.
#[derive(Debug, Default)]
pub struct SimulatorStats {
    /// Requests answered.
    pub answered: AtomicU64,
    /// Datagrams ignored (undecodable, v3, unknown community, not a request).
    pub ignored: AtomicU64,
    /// Varbinds answered.
    pub varbinds: AtomicU64,
}

/// The most varbinds in one response.
const MAX_VARBINDS: usize = 1000;
/// Stop adding GETBULK rows past this estimated size (a UDP datagram's limit is 65,507).
const MAX_RESPONSE_BYTES: usize = 60_000;

struct Inner {
    devices: HashMap<Vec<u8>, Device>,
    switch: Tree,
    pdu: Tree,
    shape: Shape,
    clock: Arc<dyn Clock>,
    stats: SimulatorStats,
}

/// A bound simulator.
pub struct Simulator {
    socket: Arc<UdpSocket>,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("devices", &self.inner.devices.len()).finish()
    }
}

impl Simulator {
    /// Binds `listen` for `devices`.
    pub async fn bind(listen: SocketAddr, devices: Vec<Device>, clock: Arc<dyn Clock>) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(listen).await?;
        let devices = devices.into_iter().map(|d| (d.id.as_bytes().to_vec(), d)).collect();
        let inner = Inner {
            devices,
            switch: Tree::new(Kind::Switch),
            pdu: Tree::new(Kind::Pdu),
            shape: Shape::default(),
            clock,
            stats: SimulatorStats::default(),
        };
        Ok(Self { socket: Arc::new(socket), inner: Arc::new(inner) })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Counters.
    pub fn stats(&self) -> &SimulatorStats {
        &self.inner.stats
    }

    /// Serves with `workers` tasks until `cancel` fires.
    pub async fn run(self, workers: usize, cancel: CancellationToken) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers.max(1) {
            let socket = Arc::clone(&self.socket);
            let inner = Arc::clone(&self.inner);
            let cancel = cancel.clone();
            set.spawn(async move {
                let mut buf = vec![0u8; 65_535];
                loop {
                    let (n, peer) = tokio::select! {
                        () = cancel.cancelled() => return,
                        r = socket.recv_from(&mut buf) => match r { Ok(x) => x, Err(_) => continue },
                    };
                    match inner.answer(&buf[..n]) {
                        Some(reply) => {
                            inner.stats.answered.fetch_add(1, Ordering::Relaxed);
                            let _ = socket.send_to(&reply, peer).await;
                        }
                        None => {
                            inner.stats.ignored.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        while set.join_next().await.is_some() {}
    }
}

fn parts(oid: &snmp2::Oid<'_>) -> Option<Vec<u32>> {
    oid.iter()?.map(|p| u32::try_from(p).ok()).collect()
}

enum Answer {
    Value(Vec<u32>, SimValue),
    Exception(Vec<u32>, u8),
}

impl Inner {
    fn answer(&self, req: &[u8]) -> Option<Vec<u8>> {
        let pdu = Pdu::from_bytes(req).ok()?;
        let version = pdu.version().ok()?;
        let device = self.devices.get(pdu.community)?;
        let tree = match device.kind {
            Kind::Switch => &self.switch,
            Kind::Pdu => &self.pdu,
        };
        let t_ms = u64::try_from(self.clock.now().as_nanos() / 1_000_000).unwrap_or(0);
        let v1 = version == Version::V1;
        let asked: Vec<Vec<u32>> = pdu.varbinds.clone().map(|(o, _)| parts(&o)).collect::<Option<_>>()?;
        let value = |i: usize| device.value(&self.shape, tree.cells[i].1, t_ms);
        // The first cell at or after position `from` that this version may see.
        let next_from =
            |from: usize| (from..tree.cells.len()).find(|&i| !(v1 && matches!(value(i), SimValue::Counter64(_))));
        let mut out: Vec<Answer> = Vec::new();
        let mut error = (0u32, 0u32);
        match pdu.message_type {
            MessageType::GetRequest => {
                for (k, o) in asked.iter().enumerate() {
                    match tree.get(o).map(|(i, _)| value(i)) {
                        Some(SimValue::Counter64(_)) | None if v1 => {
                            error = (2, k as u32 + 1);
                            out.push(Answer::Exception(o.clone(), tag::NULL));
                        }
                        Some(v) => out.push(Answer::Value(o.clone(), v)),
                        None => out.push(Answer::Exception(o.clone(), tag::NO_SUCH_INSTANCE)),
                    }
                }
            }
            MessageType::GetNextRequest => {
                for (k, o) in asked.iter().enumerate() {
                    match next_from(tree.next_index(o)) {
                        Some(i) => out.push(Answer::Value(tree.cells[i].0.clone(), value(i))),
                        None if v1 => {
                            error = (2, k as u32 + 1);
                            out.push(Answer::Exception(o.clone(), tag::NULL));
                        }
                        None => out.push(Answer::Exception(o.clone(), tag::END_OF_MIB_VIEW)),
                    }
                }
            }
            MessageType::GetBulkRequest if !v1 => {
                let non_rep = (pdu.error_status as usize).min(asked.len());
                let max_rep = (pdu.error_index as usize).max(1);
                let mut size = 0;
                for o in &asked[..non_rep] {
                    match next_from(tree.next_index(o)) {
                        Some(i) => out.push(Answer::Value(tree.cells[i].0.clone(), value(i))),
                        None => out.push(Answer::Exception(o.clone(), tag::END_OF_MIB_VIEW)),
                    }
                }
                let mut cursors: Vec<Option<usize>> =
                    asked[non_rep..].iter().map(|o| Some(tree.next_index(o))).collect();
                'rows: for _ in 0..max_rep {
                    for (c, o) in cursors.iter_mut().zip(&asked[non_rep..]) {
                        if out.len() >= MAX_VARBINDS || size > MAX_RESPONSE_BYTES {
                            break 'rows;
                        }
                        match c.and_then(next_from) {
                            Some(i) => {
                                size += tree.cells[i].0.len() + 24;
                                out.push(Answer::Value(tree.cells[i].0.clone(), value(i)));
                                *c = Some(i + 1);
                            }
                            None => {
                                out.push(Answer::Exception(o.clone(), tag::END_OF_MIB_VIEW));
                                *c = None;
                            }
                        }
                    }
                    if cursors.iter().all(Option::is_none) {
                        break;
                    }
                }
            }
            _ => return None,
        }
        self.stats.varbinds.fetch_add(out.len() as u64, Ordering::Relaxed);
        Some(encode(version, pdu.community, pdu.req_id, error, &out))
    }
}

fn encode(version: Version, community: &[u8], req_id: i32, (status, index): (u32, u32), out: &[Answer]) -> Vec<u8> {
    let mut w = Writer::with_capacity(64 + out.len() * 40);
    w.constructed(tag::SEQUENCE, |w| {
        w.constructed(tag::RESPONSE, |w| {
            w.constructed(tag::SEQUENCE, |w| {
                for a in out.iter().rev() {
                    w.constructed(tag::SEQUENCE, |w| match a {
                        Answer::Value(oid, v) => {
                            match v {
                                SimValue::Integer(i) => w.integer(tag::INTEGER, *i),
                                SimValue::Text(s) => w.primitive(tag::OCTET_STRING, s.as_bytes()),
                                SimValue::Oid(o) => w.oid(o),
                                SimValue::Gauge(g) => w.unsigned(tag::GAUGE32, u64::from(*g)),
                                SimValue::Ticks(t) => w.unsigned(tag::TIMETICKS, u64::from(*t)),
                                SimValue::Counter64(c) => w.unsigned(tag::COUNTER64, *c),
                            }
                            w.oid(oid);
                        }
                        Answer::Exception(oid, t) => {
                            w.primitive(*t, &[]);
                            w.oid(oid);
                        }
                    });
                }
            });
            w.integer(tag::INTEGER, i64::from(index));
            w.integer(tag::INTEGER, i64::from(status));
            w.integer(tag::INTEGER, i64::from(req_id));
        });
        w.primitive(tag::OCTET_STRING, community);
        w.integer(tag::INTEGER, version as i64);
    });
    w.finish()
}
