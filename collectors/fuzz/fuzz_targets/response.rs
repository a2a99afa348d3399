//! Response handling: any datagram decodes to varbinds or an error, never a panic.
#![no_main]

use collectors::oid::Oid;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let asked =
        [Oid::from_parts(vec![1, 3, 6, 1, 2, 1, 1, 3, 0]), Oid::from_parts(vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1])];
    let _ = collectors::snmp::decode_response(data, &asked);
    let _ = collectors::snmp::decode_response(data, &[]);
});
