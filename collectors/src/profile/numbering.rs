//! How an outlet row becomes an outlet number (`contract.md`: outlets are `PDU/INDEX`, from 1).
//!
//! The number is a sub-identifier of the row index (`part`, counted from the end when negative;
//! the last by default) or the value of a `column` (a row whose number is 0 is not an outlet).
//! Daisy-chained units (several PDUs answering one address) are told apart by the index's `unit`
//! sub-identifiers: the units are ordered by their index, the first keeps the device's numbers
//! and unit k (from 0) adds k × 1000, so chain member 2's outlet 5 is outlet 1005. This reading is
//! ours (the contract has no daisy chains); it keeps every outlet's identity stable as long as
//! the chain is.

/// Outlet numbers of a unit after the first are offset by this, times the unit's position.
pub const UNIT_STRIDE: u32 = 1000;

/// Sub-identifiers `from..to` of a row index (`to` omitted: to the end; negative: from the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitParts {
    /// First sub-identifier.
    pub from: i32,
    /// One past the last.
    #[serde(default)]
    pub to: Option<i32>,
}

fn position(len: usize, p: i32) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if p < 0 { len + i64::from(p) } else { i64::from(p) };
    usize::try_from(i).ok().filter(|&i| i64::try_from(i).is_ok_and(|i| i <= len))
}

impl UnitParts {
    /// The unit key of `index`.
    pub fn key<'a>(&self, index: &'a [u32]) -> Option<&'a [u32]> {
        let from = position(index.len(), self.from)?;
        let to = match self.to {
            Some(t) => position(index.len(), t)?,
            None => index.len(),
        };
        index.get(from..to)
    }
}

/// A table's outlet numbering.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Numbering {
    /// Which index sub-identifier is the number.
    #[serde(default = "last")]
    pub part: i32,
    /// A column holding the number instead.
    #[serde(default)]
    pub column: Option<crate::oid::Oid>,
    /// The sub-identifiers naming the unit in a chain.
    #[serde(default)]
    pub unit: Option<UnitParts>,
}

fn last() -> i32 {
    -1
}

impl Default for Numbering {
    fn default() -> Self {
        Self { part: -1, column: None, unit: None }
    }
}

impl Numbering {
    /// The number from the index (when no `column` is set); `None` when absent or 0.
    pub fn from_index(&self, index: &[u32]) -> Option<u32> {
        let i = position(index.len(), self.part)?;
        index.get(i).copied().filter(|&n| n > 0)
    }

    /// The outlet index for `number` on the unit at `unit_position` (0 for the first unit).
    pub fn outlet(number: u32, unit_position: usize) -> Option<u32> {
        let k = u32::try_from(unit_position).ok()?;
        if number >= UNIT_STRIDE && k > 0 {
            return None;
        }
        k.checked_mul(UNIT_STRIDE)?.checked_add(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_units() {
        let n = Numbering::default();
        assert_eq!(n.from_index(&[1, 7]), Some(7));
        assert_eq!(n.from_index(&[1, 0]), None);
        let first = Numbering { part: 0, ..Numbering::default() };
        assert_eq!(first.from_index(&[12, 3, 65, 66, 67]), Some(12));
        let u = UnitParts { from: 1, to: None };
        assert_eq!(u.key(&[12, 3, 65, 66, 67]), Some(&[3, 65, 66, 67][..]));
        let u = UnitParts { from: 0, to: Some(-1) };
        assert_eq!(u.key(&[2, 5]), Some(&[2][..]));
        assert_eq!(Numbering::outlet(5, 0), Some(5));
        assert_eq!(Numbering::outlet(5, 2), Some(2005));
        assert_eq!(Numbering::outlet(1200, 1), None);
    }
}
