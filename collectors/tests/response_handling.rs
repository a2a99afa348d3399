//! Response handling never panics: arbitrary datagrams, and valid responses truncated or with
//! bytes flipped, decode to varbinds or to an error, never to a wrong answer. (The same function
//! is the cargo-fuzz target in `collectors/fuzz`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use collectors::oid::Oid;
use collectors::simulator::ber::{Writer, tag};
use collectors::snmp::decode_response;
use proptest::prelude::*;

fn valid(req_id: i64, values: &[u64]) -> Vec<u8> {
    let mut w = Writer::default();
    w.constructed(tag::SEQUENCE, |w| {
        w.constructed(tag::RESPONSE, |w| {
            w.constructed(tag::SEQUENCE, |w| {
                for (i, v) in values.iter().enumerate().rev() {
                    w.constructed(tag::SEQUENCE, |w| {
                        w.unsigned(tag::COUNTER64, *v);
                        w.oid(&[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, i as u32 + 1]);
                    });
                }
            });
            w.integer(tag::INTEGER, 0);
            w.integer(tag::INTEGER, 0);
            w.integer(tag::INTEGER, req_id);
        });
        w.primitive(tag::OCTET_STRING, b"public");
        w.integer(tag::INTEGER, 1);
    });
    w.finish()
}

fn asked(n: usize) -> Vec<Oid> {
    (1..=n).map(|i| Oid::parse(&format!("1.3.6.1.2.1.31.1.1.1.6.{i}")).unwrap()).collect()
}

#[test]
fn a_valid_response_decodes_exactly() {
    let (id, vb) = decode_response(&valid(77, &[5, u64::MAX]), &asked(2)).unwrap();
    assert_eq!(id, 77);
    assert_eq!(vb.iter().map(|(_, v)| v.as_u64().unwrap()).collect::<Vec<_>>(), [5, u64::MAX]);
    assert!(decode_response(&valid(77, &[5]), &asked(2)).is_err(), "one value for two asked");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_response(&bytes, &asked(3));
        let _ = decode_response(&bytes, &[]);
    }

    #[test]
    fn damaged_responses_are_errors_or_exact(
        values in proptest::collection::vec(any::<u64>(), 1..8),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let good = valid(9, &values);
        let mut bytes = good[..cut.index(good.len() + 1).max(1).min(good.len())].to_vec();
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Ok((_, vb)) = decode_response(&bytes, &asked(values.len())) {
            // Whatever decodes answers exactly the OIDs asked, in order.
            prop_assert_eq!(vb.len(), values.len());
        }
    }
}
