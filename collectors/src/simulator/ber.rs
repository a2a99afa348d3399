//! A BER encoder for the simulator's responses. snmp2 decodes every message here, but keeps its
//! encoder private to the crate, so the agent writes its replies with this (tested by decoding
//! them with snmp2).
//!
//! The message is built back to front, like snmp2's own encoder: a constructed value's length
//! is known once its contents are written, so nothing is ever moved.

/// A message under construction (its bytes in reverse order).
#[derive(Debug, Default)]
pub struct Writer {
    rev: Vec<u8>,
}

/// ASN.1 / SNMP tags.
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// Counter32.
    pub const COUNTER32: u8 = 0x41;
    /// Gauge32.
    pub const GAUGE32: u8 = 0x42;
    /// TimeTicks.
    pub const TIMETICKS: u8 = 0x43;
    /// Counter64.
    pub const COUNTER64: u8 = 0x46;
    /// noSuchObject.
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    /// noSuchInstance.
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    /// endOfMibView.
    pub const END_OF_MIB_VIEW: u8 = 0x82;
    /// GetResponse-PDU.
    pub const RESPONSE: u8 = 0xa2;
}

impl Writer {
    /// An empty writer with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        Self { rev: Vec::with_capacity(cap) }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.rev.len()
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.rev.is_empty()
    }

    fn length(&mut self, n: usize) {
        if n < 0x80 {
            self.rev.push(n as u8);
        } else {
            let bytes = n.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            self.rev.extend(bytes[skip..].iter().rev());
            self.rev.push(0x80 | (bytes.len() - skip) as u8);
        }
    }

    /// A primitive value.
    pub fn primitive(&mut self, tag: u8, content: &[u8]) {
        self.rev.extend(content.iter().rev());
        self.length(content.len());
        self.rev.push(tag);
    }

    /// A constructed value whose contents `f` writes, last element first.
    pub fn constructed(&mut self, tag: u8, f: impl FnOnce(&mut Self)) {
        let start = self.rev.len();
        f(self);
        let n = self.rev.len() - start;
        self.length(n);
        self.rev.push(tag);
    }

    /// A signed integer in minimal two's complement.
    pub fn integer(&mut self, tag: u8, v: i64) {
        let b = v.to_be_bytes();
        let mut i = 0;
        while i < 7 && ((b[i] == 0 && b[i + 1] & 0x80 == 0) || (b[i] == 0xff && b[i + 1] & 0x80 != 0)) {
            i += 1;
        }
        self.primitive(tag, &b[i..]);
    }

    /// An unsigned integer (Counter64, Gauge32, TimeTicks) in minimal form.
    pub fn unsigned(&mut self, tag: u8, v: u64) {
        let b = v.to_be_bytes();
        let skip = b.iter().take(7).take_while(|&&x| x == 0).count();
        let body = &b[skip..];
        let start = self.rev.len();
        self.rev.extend(body.iter().rev());
        if body[0] & 0x80 != 0 {
            self.rev.push(0);
        }
        let n = self.rev.len() - start;
        self.length(n);
        self.rev.push(tag);
    }

    /// An OBJECT IDENTIFIER (at least two arcs; the first below 3, the second below 40).
    pub fn oid(&mut self, parts: &[u32]) {
        let start = self.rev.len();
        for &p in parts.iter().skip(2).rev() {
            let mut v = p;
            self.rev.push((v & 0x7f) as u8);
            v >>= 7;
            while v > 0 {
                self.rev.push(0x80 | (v & 0x7f) as u8);
                v >>= 7;
            }
        }
        let head = parts.first().copied().unwrap_or(0) * 40 + parts.get(1).copied().unwrap_or(0);
        let mut v = head;
        self.rev.push((v & 0x7f) as u8);
        v >>= 7;
        while v > 0 {
            self.rev.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        let n = self.rev.len() - start;
        self.length(n);
        self.rev.push(tag::OID);
    }

    /// The finished message.
    pub fn finish(mut self) -> Vec<u8> {
        self.rev.reverse();
        self.rev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_snmp2_decodes() {
        let mut w = Writer::default();
        w.constructed(tag::SEQUENCE, |w| {
            w.constructed(tag::RESPONSE, |w| {
                w.constructed(tag::SEQUENCE, |w| {
                    w.constructed(tag::SEQUENCE, |w| {
                        w.unsigned(tag::COUNTER64, u64::MAX);
                        w.oid(&[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 200_000]);
                    });
                    w.constructed(tag::SEQUENCE, |w| {
                        w.primitive(tag::OCTET_STRING, &[b'x'; 300]);
                        w.oid(&[1, 3, 6, 1, 2, 1, 1, 5, 0]);
                    });
                });
                w.integer(tag::INTEGER, 0);
                w.integer(tag::INTEGER, 0);
                w.integer(tag::INTEGER, -129);
            });
            w.primitive(tag::OCTET_STRING, b"public");
            w.integer(tag::INTEGER, 1);
        });
        let bytes = w.finish();
        let pdu = snmp2::Pdu::from_bytes(&bytes).unwrap();
        assert_eq!(pdu.req_id, -129);
        assert_eq!(pdu.community, b"public");
        let vb: Vec<_> = pdu.varbinds.collect();
        assert_eq!(vb.len(), 2);
        // Written back to front: the last written comes first.
        assert_eq!(vb[1].0.to_string(), "1.3.6.1.2.1.31.1.1.1.6.200000");
        assert!(matches!(vb[1].1, snmp2::Value::Counter64(u64::MAX)));
        assert!(matches!(vb[0].1, snmp2::Value::OctetString(s) if s.len() == 300));
    }
}
