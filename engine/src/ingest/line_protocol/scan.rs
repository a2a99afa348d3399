//! A scanner for the plain lines collectors and Telegraf send (no escapes, no quotes, no string
//! or boolean fields, ASCII names): `measurement[,tag=value…] field=number[,field=number…]
//! [timestamp]`. It accepts only lines the `influxdb-line-protocol` crate parses to the same
//! measurement, tags, fields and timestamp (checked by a property test against the crate) and
//! gives up (`None`) on anything else, which then goes through the crate: escapes, quotes,
//! exponents, unusual spacing, and every malformed line, so error messages stay the crate's.
//!
//! The crate builds each line through parser combinators (about a fifth of a request thread's
//! time under load); this reads the bytes once, without allocating.

/// A field's value, as the crate would type it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    /// `123i`, or `-5i`.
    I64(i64),
    /// `123u`.
    U64(u64),
    /// `123`, `-1.5`.
    F64(f64),
    /// A string or a boolean (only from the crate's path).
    Other,
}

impl From<&influxdb_line_protocol::FieldValue<'_>> for Num {
    fn from(v: &influxdb_line_protocol::FieldValue<'_>) -> Self {
        use influxdb_line_protocol::FieldValue;
        match v {
            FieldValue::I64(n) => Num::I64(*n),
            FieldValue::U64(n) => Num::U64(*n),
            FieldValue::F64(f) => Num::F64(*f),
            FieldValue::String(_) | FieldValue::Boolean(_) => Num::Other,
        }
    }
}

/// The most tags and fields a scanned line may have (more: the crate's path).
const MAX_PARTS: usize = 16;

/// A name byte: printable ASCII but the separators, escapes and quotes.
fn name_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b',' | b'=' | b'\\' | b'"')
}

/// The name at `at` (one or more name bytes): its end.
fn name(bytes: &[u8], at: usize) -> Option<usize> {
    let end = at + bytes[at..].iter().take_while(|&&b| name_byte(b)).count();
    (end > at).then_some(end)
}

/// A number at `at`: its end and value. `-?digits` then `i`, `u` (not negative) or
/// `.digits` or nothing (a float).
fn number(line: &str, at: usize) -> Option<(usize, Num)> {
    let bytes = line.as_bytes();
    let neg = bytes.get(at) == Some(&b'-');
    let digits_at = at + usize::from(neg);
    let int_end = digits_at + bytes[digits_at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if int_end == digits_at {
        return None;
    }
    match bytes.get(int_end) {
        Some(b'i') => Some((int_end + 1, Num::I64(line[at..int_end].parse().ok()?))),
        Some(b'u') if !neg => Some((int_end + 1, Num::U64(line[at..int_end].parse().ok()?))),
        Some(b'.') => {
            let frac = int_end + 1;
            let end = frac + bytes[frac..].iter().take_while(|b| b.is_ascii_digit()).count();
            if end == frac {
                return None;
            }
            Some((end, Num::F64(line[at..end].parse().ok()?)))
        }
        Some(b',' | b' ') | None => Some((int_end, Num::F64(line[at..int_end].parse().ok()?))),
        Some(_) => None,
    }
}

/// A scanned line.
#[derive(Debug, Default)]
pub(super) struct Scanned<'a> {
    /// The measurement.
    pub measurement: &'a str,
    /// Tags in order.
    pub tags: Vec<(&'a str, &'a str)>,
    /// Fields in order.
    pub fields: Vec<(&'a str, Num)>,
    /// The timestamp, if any.
    pub timestamp: Option<i64>,
}

/// Scans `line` into `out` (its vectors reused); `false` when the line is not a plain one.
pub(super) fn scan<'a>(line: &'a str, out: &mut Scanned<'a>) -> bool {
    out.tags.clear();
    out.fields.clear();
    out.timestamp = None;
    scan_into(line, out).is_some()
}

fn scan_into<'a>(line: &'a str, out: &mut Scanned<'a>) -> Option<()> {
    let bytes = line.as_bytes();
    let mut at = name(bytes, 0)?;
    out.measurement = &line[..at];
    while bytes.get(at) == Some(&b',') {
        let key_end = name(bytes, at + 1)?;
        (bytes.get(key_end) == Some(&b'=')).then_some(())?;
        let value_end = name(bytes, key_end + 1)?;
        (out.tags.len() < MAX_PARTS).then_some(())?;
        out.tags.push((&line[at + 1..key_end], &line[key_end + 1..value_end]));
        at = value_end;
    }
    (bytes.get(at) == Some(&b' ')).then_some(())?;
    loop {
        let key_end = name(bytes, at + 1)?;
        (bytes.get(key_end) == Some(&b'=')).then_some(())?;
        let (value_end, value) = number(line, key_end + 1)?;
        (out.fields.len() < MAX_PARTS).then_some(())?;
        out.fields.push((&line[at + 1..key_end], value));
        at = value_end;
        match bytes.get(at) {
            Some(b',') => continue,
            Some(b' ') => break,
            None => return Some(()),
            Some(_) => return None,
        }
    }
    let ts_at = at + 1;
    let neg = bytes.get(ts_at) == Some(&b'-');
    let digits_at = ts_at + usize::from(neg);
    let end = digits_at + bytes[digits_at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if end == digits_at || end != bytes.len() {
        return None;
    }
    out.timestamp = Some(line[ts_at..end].parse().ok()?);
    Some(())
}

#[cfg(test)]
mod tests {
    use influxdb_line_protocol::parse_lines;
    use proptest::prelude::*;

    use super::*;

    /// Measurement, tags, fields and timestamp, owned.
    type Owned = (String, Vec<(String, String)>, Vec<(String, Num)>, Option<i64>);

    /// What the crate makes of a line, in the scanner's terms.
    fn by_crate(line: &str) -> Option<Owned> {
        let p = parse_lines(line).next()?.ok()?;
        let tags = p
            .series
            .tag_set
            .as_ref()
            .map(|t| t.iter().map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned())).collect())
            .unwrap_or_default();
        let fields = p.field_set.iter().map(|(k, v)| (k.as_str().to_owned(), Num::from(v))).collect();
        Some((p.series.measurement.as_str().to_owned(), tags, fields, p.timestamp))
    }

    fn by_scanner(line: &str) -> Option<Owned> {
        let mut s = Scanned::default();
        scan(line, &mut s).then(|| {
            (
                s.measurement.to_owned(),
                s.tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                s.fields.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                s.timestamp,
            )
        })
    }

    #[test]
    fn plain_lines_scan_and_the_rest_is_left_to_the_crate() {
        let line = "port_counters,device=sw-core1,port=Gi1/0/1 in_octets=123456u,out_octets=654321i,x=-2.5 1791763200000000000";
        let got = by_scanner(line).unwrap();
        assert_eq!(Some(got.clone()), by_crate(line));
        assert_eq!(got.2[0], ("in_octets".to_owned(), Num::U64(123_456)));
        assert_eq!(got.3, Some(1_791_763_200_000_000_000));
        assert_eq!(
            by_scanner("outlet,device=p,outlet=1 energy_wh=5").unwrap().2,
            vec![("energy_wh".into(), Num::F64(5.0))]
        );
        for left in [
            "m,t=a\\ b f=1",             // escape
            "m f=\"s\"",                 // string field
            "m f=t",                     // boolean
            "m f=1e5",                   // exponent
            "m  f=1",                    // two spaces
            "m f=1 ",                    // trailing space
            " m f=1",                    // leading space
            "m f=-1u",                   // negative unsigned
            "m f=99999999999999999999i", // overflow
            "m,t= f=1",                  // empty tag value
            "m f=1 12x",                 // bad timestamp
            "m f=1.",                    // no fraction digits
            "mé f=1",                    // non-ASCII
        ] {
            assert_eq!(by_scanner(left), None, "{left}");
        }
    }

    proptest! {
        /// Whatever the scanner accepts, the crate parses to the same thing.
        #[test]
        fn the_scanner_agrees_with_the_crate(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("m".to_owned()), Just(",".to_owned()), Just("=".to_owned()), Just(" ".to_owned()),
                    Just("t".to_owned()), Just("-".to_owned()), Just("1".to_owned()), Just("23".to_owned()),
                    Just(".".to_owned()), Just("i".to_owned()), Just("u".to_owned()), Just("\\".to_owned()),
                    Just("\"".to_owned()), Just("e".to_owned()), Just("\t".to_owned()), Just("#".to_owned()),
                ],
                1..24,
            )
        ) {
            let line = parts.concat();
            if let Some(scanned) = by_scanner(&line) {
                prop_assert_eq!(Some(scanned), by_crate(&line), "{}", line);
            }
        }

        /// Well-formed plain lines are scanned, not left to the crate.
        #[test]
        fn plain_lines_are_scanned(tags in 0usize..4, fields in 1usize..4, v in any::<u64>(), f in -1.0e9f64..1.0e9, ts in any::<i64>()) {
            let mut line = String::from("port_counters");
            for t in 0..tags {
                line.push_str(&format!(",tag{t}=value/{t}"));
            }
            line.push(' ');
            for k in 0..fields {
                if k > 0 {
                    line.push(',');
                }
                match k % 3 {
                    0 => line.push_str(&format!("a{k}={v}u")),
                    1 => line.push_str(&format!("b{k}={}i", v / 2)),
                    _ => line.push_str(&format!("c{k}={f:.3}")),
                }
            }
            line.push_str(&format!(" {ts}"));
            let scanned = by_scanner(&line);
            prop_assert!(scanned.is_some(), "{}", line);
            prop_assert_eq!(scanned, by_crate(&line));
        }
    }
}
