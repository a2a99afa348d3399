//! Reading a JSON-shaped tree (from YAML, JSON, CSV or the catalog) into typed values while
//! collecting every problem with its path, instead of stopping at the first one.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// One problem in an inventory document, with its path (`services[0].resources[1].outlet`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Where: dotted path with `[index]` for list items (or `FILE.csv:LINE.field` for CSV).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Collected problems.
pub type Problems = Vec<Problem>;

/// Records a problem.
pub fn push(probs: &mut Problems, path: impl Into<String>, message: impl Into<String>) {
    probs.push(Problem { path: path.into(), message: message.into() });
}

/// Path of a list item.
pub fn item_path(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Path of an object field.
pub fn field_path(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Reads the fields of one object, reporting missing, malformed and unknown fields.
pub struct Obj<'a, 'p> {
    map: &'a Map<String, Value>,
    path: String,
    probs: &'p mut Problems,
    known: &'static [&'static str],
    failed: bool,
}

impl<'a, 'p> Obj<'a, 'p> {
    /// Opens `v` as an object whose fields are `known`; `None` (reported) if it is not one.
    pub fn open(v: &'a Value, path: String, known: &'static [&'static str], probs: &'p mut Problems) -> Option<Self> {
        match v.as_object() {
            Some(map) => Some(Self { map, path, probs, known, failed: false }),
            None => {
                push(probs, path, format!("expected an object, found {}", kind_of(v)));
                None
            }
        }
    }

    /// The object's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of one of its fields.
    pub fn field(&self, key: &str) -> String {
        field_path(&self.path, key)
    }

    /// The raw value of a field; `null` counts as absent.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether a field is present (and not null).
    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// A required field, parsed by `parse`.
    pub fn req<T>(&mut self, key: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        match self.raw(key) {
            None => {
                self.fail(key, "is required");
                None
            }
            Some(v) => self.parse(key, v, parse),
        }
    }

    /// An optional field, parsed by `parse`; `None` if absent or malformed (then reported).
    pub fn opt<T>(&mut self, key: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        let v = self.raw(key)?;
        self.parse(key, v, parse)
    }

    /// A nested value read by a function that reports its own problems under the field's path.
    pub fn nested<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(&'a Value, String, &mut Problems) -> Option<T>,
    ) -> Option<T> {
        let v = self.raw(key)?;
        let n = self.probs.len();
        let out = read(v, self.field(key), self.probs);
        if out.is_none() || self.probs.len() > n {
            self.failed = true;
        }
        out
    }

    /// An optional list whose items are read by `read` (absent = empty).
    pub fn list<T>(
        &mut self,
        key: &str,
        mut read: impl FnMut(&'a Value, String, &mut Problems) -> Option<T>,
    ) -> Vec<T> {
        self.nested(key, |v, path, probs| {
            let Some(items) = v.as_array() else {
                push(probs, path, format!("expected a list, found {}", kind_of(v)));
                return None;
            };
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match read(item, item_path(&path, i), probs) {
                    Some(t) => out.push(t),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        })
        .unwrap_or_default()
    }

    /// Reports a problem on a field and marks the object as failed.
    pub fn fail(&mut self, key: &str, message: impl Into<String>) {
        let path = self.field(key);
        push(self.probs, path, message);
        self.failed = true;
    }

    /// Reports unknown fields; returns whether the whole object read without a problem.
    pub fn finish(self) -> bool {
        let mut ok = !self.failed;
        for k in self.map.keys() {
            if !self.known.contains(&k.as_str()) {
                push(
                    self.probs,
                    field_path(&self.path, k),
                    format!("unknown field (expected one of: {})", self.known.join(", ")),
                );
                ok = false;
            }
        }
        ok
    }

    fn parse<T>(&mut self, key: &str, v: &Value, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        match parse(v) {
            Ok(t) => Some(t),
            Err(msg) => {
                self.fail(key, msg);
                None
            }
        }
    }
}

/// Describes a value's JSON type for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Text: a string, or an integer written bare (`index: 12`, an ID `101`).
pub fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if s.trim().is_empty() => Err("must not be empty".into()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(format!("expected a string, found {}", kind_of(other))),
    }
}

/// A value parsed from text by `FromStr` (typed IDs and the like).
pub fn parsed<T: FromStr>(v: &Value) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    let s = text(v)?;
    s.parse::<T>().map_err(|e| format!("{s:?} {e}"))
}

/// A non-negative integer, bare or as a string (CSV cells are strings).
pub fn uint<T: TryFrom<u64>>(v: &Value) -> Result<T, String> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| T::try_from(n).ok()).ok_or_else(|| format!("expected a non-negative integer in range, found {v}"))
}

/// An exact decimal: a string (`"1.35"`) or a bare integer. Bare fractional numbers are refused:
/// YAML and JSON parsers read them as binary floats, which cannot hold most decimal fractions.
pub fn decimal(v: &Value) -> Result<Decimal, String> {
    match v {
        Value::String(s) => Decimal::from_str_exact(s.trim()).map_err(|_| format!("{s:?} is not a decimal number")),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            Decimal::from_str_exact(&n.to_string()).map_err(|_| format!("{n} is out of range"))
        }
        Value::Number(n) => Err(format!("write decimals as strings (\"{n}\") so they stay exact")),
        other => Err(format!("expected a decimal string, found {}", kind_of(other))),
    }
}

/// A decimal `>= 0`.
pub fn non_negative(v: &Value) -> Result<Decimal, String> {
    let d = decimal(v)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(format!("must not be negative, found {d}"));
    }
    Ok(d)
}

/// A decimal `> 0`.
pub fn positive(v: &Value) -> Result<Decimal, String> {
    let d = decimal(v)?;
    if d <= Decimal::ZERO {
        return Err(format!("must be greater than zero, found {d}"));
    }
    Ok(d)
}

/// An RFC 3339 instant.
pub fn timestamp(v: &Value) -> Result<Timestamp, String> {
    let s = text(v)?;
    Timestamp::parse(&s).map_err(|e| e.to_string())
}

/// One of a fixed set of spellings.
pub fn one_of<T>(spellings: &[&str], parse: impl Fn(&str) -> Option<T>) -> impl FnOnce(&Value) -> Result<T, String> {
    let expected = spellings.join(", ");
    move |v| {
        let s = text(v)?;
        parse(&s).ok_or_else(|| format!("{s:?} is not one of: {expected}"))
    }
}
