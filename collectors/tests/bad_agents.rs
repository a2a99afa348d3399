//! Bad agents: silence, truncated and garbage datagrams, wrong request IDs, huge and mismatched
//! responses, counters going backwards. Nothing panics, every failure is counted, and a good
//! device polled beside them by the same scheduler keeps its interval.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use collectors::handoff::{self, Sink, SinkError};
use collectors::metrics::CollectorMetrics;
use collectors::oid::Oid;
use collectors::profile::{DeviceKind, Profiles};
use collectors::scheduler::{Collectors, DeviceSpec, Settings};
use collectors::simulator::ber::{Writer, tag};
use collectors::simulator::{self, Simulator};
use collectors::snmp::{Credentials, Session, SnmpError, Target};
use collectors::status::StatusBoard;
use engine::clock::SystemClock;
use engine::store::PendingReading;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// One IF-MIB port: sysUpTime, sysObjectID, ifName.1, ifHCInOctets.1, ifHCOutOctets.1.
fn value_of(oid: &[u32], polls: u64) -> Option<(u8, Vec<u8>)> {
    let s = |o: &str| Oid::parse(o).unwrap().parts().to_vec();
    if oid == s("1.3.6.1.2.1.1.3.0") {
        return Some((tag::TIMETICKS, (100_000 + polls * 100).to_be_bytes().to_vec()));
    }
    if oid == s("1.3.6.1.2.1.31.1.1.1.1.1") {
        return Some((tag::OCTET_STRING, b"eth0".to_vec()));
    }
    if oid == s("1.3.6.1.2.1.31.1.1.1.6.1") || oid == s("1.3.6.1.2.1.31.1.1.1.10.1") {
        // Goes backwards on every poll while uptime goes on: a regression each time.
        return Some((tag::COUNTER64, (1_000_000_000 - polls * 1000).to_be_bytes().to_vec()));
    }
    None
}

/// The next OID in the tiny tree after `oid`.
fn next_of(oid: &[u32]) -> Option<Vec<u32>> {
    let tree =
        ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.31.1.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.6.1", "1.3.6.1.2.1.31.1.1.1.10.1"];
    tree.iter().map(|o| Oid::parse(o).unwrap().parts().to_vec()).find(|o| o.as_slice() > oid)
}

/// An answer: OID and (tag, content), or endOfMibView.
type Varbind = (Vec<u32>, Option<(u8, Vec<u8>)>);

fn response(community: &[u8], req_id: i64, varbinds: &[Varbind]) -> Vec<u8> {
    response_with(community, req_id, 0, varbinds)
}

fn response_with(community: &[u8], req_id: i64, status: i64, varbinds: &[Varbind]) -> Vec<u8> {
    let mut w = Writer::default();
    w.constructed(tag::SEQUENCE, |w| {
        w.constructed(tag::RESPONSE, |w| {
            w.constructed(tag::SEQUENCE, |w| {
                for (oid, v) in varbinds.iter().rev() {
                    w.constructed(tag::SEQUENCE, |w| {
                        match v {
                            Some((t, bytes)) if *t == tag::OCTET_STRING => w.primitive(*t, bytes),
                            Some((t, bytes)) => {
                                w.unsigned(*t, u64::from_be_bytes(bytes.as_slice().try_into().unwrap()))
                            }
                            None => w.primitive(tag::END_OF_MIB_VIEW, &[]),
                        }
                        w.oid(oid);
                    });
                }
            });
            w.integer(tag::INTEGER, 0);
            w.integer(tag::INTEGER, status);
            w.integer(tag::INTEGER, req_id);
        });
        w.primitive(tag::OCTET_STRING, community);
        w.integer(tag::INTEGER, 1);
    });
    w.finish()
}

/// Serves every misbehaviour, chosen by community string.
async fn bad_agent(socket: UdpSocket, polls: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else { return };
        let Ok(pdu) = snmp2::Pdu::from_bytes(&buf[..n]) else { continue };
        let community = pdu.community.to_vec();
        let asked: Vec<Vec<u32>> =
            pdu.varbinds.clone().map(|(o, _)| o.iter().unwrap().map(|p| p as u32).collect()).collect();
        let get = pdu.message_type == snmp2::MessageType::GetRequest;
        let p =
            if get && asked.len() > 1 { polls.fetch_add(1, Ordering::Relaxed) } else { polls.load(Ordering::Relaxed) };
        let answer: Vec<Varbind> = asked
            .iter()
            .map(|o| {
                if get {
                    // Anything else GET asks for (sysObjectID) reads as Counter64 0.
                    (o.clone(), value_of(o, p).or(Some((tag::COUNTER64, 0u64.to_be_bytes().to_vec()))))
                } else {
                    next_of(o).map_or((o.clone(), None), |n| (n.clone(), value_of(&n, p)))
                }
            })
            .collect();
        let good = response(&community, i64::from(pdu.req_id), &answer);
        let reply = match community.as_slice() {
            b"silent" => continue,
            // Answers at most two varbinds; more is tooBig (error-status 1).
            b"toobig" if asked.len() > 2 => response_with(&community, i64::from(pdu.req_id), 1, &[]),
            b"truncated" => good[..good.len() / 2].to_vec(),
            b"garbage" => vec![0x30, 0x82, 0xff, 0xff, 0x02, 0x01],
            b"wrong-id" => response(&community, i64::from(pdu.req_id) + 7, &answer),
            b"huge" => {
                // The answer plus 1,500 varbinds nobody asked for: ~45 KB.
                let mut more = answer.clone();
                for i in 0..1500u32 {
                    more.push((
                        vec![1, 3, 6, 1, 4, 1, 99_999, i],
                        Some((tag::COUNTER64, u64::from(i).to_be_bytes().to_vec())),
                    ));
                }
                response(&community, i64::from(pdu.req_id), &more)
            }
            b"wrong-oids" => {
                let shifted: Vec<_> =
                    answer.iter().map(|(o, v)| (o.iter().map(|x| x + 1).collect(), v.clone())).collect();
                response(&community, i64::from(pdu.req_id), &shifted)
            }
            _ => good, // "regress": well formed, counters going backwards
        };
        let _ = socket.send_to(&reply, peer).await;
    }
}

#[tokio::test]
async fn every_bad_response_is_an_error_not_a_value() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(bad_agent(socket, Arc::new(AtomicU64::new(0))));
    let up = [Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()];
    for (community, expect_timeout) in [
        ("silent", true),
        ("truncated", false),
        ("garbage", false),
        ("wrong-id", false),
        ("huge", false),
        ("wrong-oids", false),
    ] {
        let mut t = Target::new(addr, Credentials::V2c(community.as_bytes().to_vec()));
        t.timeout = Duration::from_millis(150);
        t.retries = 2;
        t.backoff = Duration::from_millis(10);
        let mut s = Session::new(t, 1);
        let e = s.get(&up).await.unwrap_err();
        let counts = s.take_counts();
        assert_eq!(counts.requests, 3, "{community}: one request and two retries");
        if expect_timeout {
            assert_eq!(e, SnmpError::Timeout { attempts: 3 }, "{community}");
            assert_eq!(counts.timeouts, 3);
        } else {
            // A datagram that does not decode or answer this request is dropped with the socket:
            // it is a bad response, or (the request went unanswered) a timeout. Never a value.
            assert_eq!(counts.bad_responses + counts.timeouts, 3, "{community}: {e}");
            assert!(counts.bad_responses >= 1, "{community}: {e}");
        }
    }
    // tooBig: the request is split until each part fits.
    let four: Vec<Oid> =
        ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.31.1.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.6.1", "1.3.6.1.2.1.31.1.1.1.10.1"]
            .iter()
            .map(|o| Oid::parse(o).unwrap())
            .collect();
    let mut s = Session::new(Target::new(addr, Credentials::V2c(b"toobig".to_vec())), 1);
    let vb = s.get(&four).await.unwrap();
    assert_eq!(vb.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>(), four);
    assert_eq!(vb[1].1.as_text().as_deref(), Some("eth0"));
    assert_eq!(s.take_counts().requests, 3, "one refused, then two halves");
    // A well-formed agent still answers on the same address.
    let mut s = Session::new(Target::new(addr, Credentials::V2c(b"regress".to_vec())), 1);
    assert_eq!(s.get(&up).await.unwrap().len(), 1);
}

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<PendingReading>>>);

impl Sink for Collected {
    fn write(&mut self, readings: Vec<PendingReading>) -> Result<(), SinkError> {
        self.0.lock().unwrap().extend(readings);
        Ok(())
    }
}

fn spec(id: &str, community: &str, addr: SocketAddr) -> DeviceSpec {
    DeviceSpec::v2c(id, DeviceKind::Switch, community, addr, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_devices_do_not_delay_a_good_one() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bad = socket.local_addr().unwrap();
    tokio::spawn(bad_agent(socket, Arc::new(AtomicU64::new(0))));
    let sim = Simulator::bind("127.0.0.1:0".parse().unwrap(), simulator::fleet(0, 1, 3), Arc::new(SystemClock))
        .await
        .unwrap();
    let good = sim.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(sim.run(1, cancel.clone()));

    let metrics = Arc::new(CollectorMetrics::default());
    let status = Arc::new(StatusBoard::default());
    let sink = Collected::default();
    let (handoff, writer) = handoff::start(sink.clone(), 16, 10_000, Arc::clone(&metrics)).unwrap();
    let settings = Settings { timeout: Duration::from_millis(200), retries: 1, ..Settings::default() };
    let collectors = Collectors::new(
        settings,
        Profiles::builtin().unwrap(),
        Arc::new(SystemClock),
        handoff,
        Arc::clone(&metrics),
        Arc::clone(&status),
        cancel.clone(),
    );
    let mut specs = vec![spec("sw-0001", "sw-0001", good)];
    for c in ["silent", "truncated", "garbage", "wrong-id", "huge", "wrong-oids", "regress"] {
        specs.push(spec(c, c, bad));
    }
    collectors.apply(specs);
    // Long enough for the good device's discovery and at least three polls at 1 s.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    collectors.stop();
    drop(collectors);
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::task::spawn_blocking(move || writer.join()).await.unwrap().unwrap();

    let good_status = status.get("sw-0001").unwrap();
    assert_eq!(good_status.consecutive_failures, 0, "{:?}", good_status.last_error);
    assert!(good_status.last_poll.is_some());
    let rows = sink.0.lock().unwrap();
    let good_polls: HashSet<i64> =
        rows.iter().filter(|r| &*r.key.device == "sw-0001").map(|r| r.ts.as_nanos()).collect();
    assert!(good_polls.len() >= 3, "the good device polled {} times", good_polls.len());
    // Nothing from the broken devices reached the store; the regressing one's values did
    // (they are real readings; metering flags them) and its regressions were counted.
    let devices: HashSet<&str> = rows.iter().map(|r| &*r.key.device).collect();
    assert!(devices.is_subset(&["sw-0001", "regress"].into()), "{devices:?}");
    for c in ["silent", "truncated", "garbage", "wrong-id", "huge", "wrong-oids"] {
        let s = status.get(c).unwrap();
        assert!(s.consecutive_failures >= 1 && s.last_error.is_some(), "{c}: {s:?}");
        assert!(s.last_poll.is_none(), "{c} was never read");
    }
    let classes = metrics.snapshot();
    let undiscovered = &classes["undiscovered-switch"];
    assert!(undiscovered.timeouts >= 1 && undiscovered.bad_responses >= 1, "{undiscovered:?}");
    assert_eq!(undiscovered.values, 0);
    assert!(classes["if-mib"].counter_regressions >= 2, "{:?} {:?}", classes["if-mib"], status.get("regress"));
    assert_eq!(classes["if-mib"].missed_cycles, 0);
    cancel.cancel();
}
