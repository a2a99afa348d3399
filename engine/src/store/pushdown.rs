//! Filters of a DataFusion scan that the store can use: a time range and device, resource and
//! metric sets, from the conjuncts of a query's filters (pushdown is `Inexact`: DataFusion
//! applies the filters again).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

mod table;
pub use table::{PushdownSource, PushdownTable, external};

use super::buffer::ScanFilter;
use super::reading::SeriesKey;
use super::registry::Registry;
use super::series_set::SeriesSet;
use crate::time::Timestamp;

/// Filters recognised for pushdown, collected from the conjuncts of a query's filters.
#[derive(Debug, Default)]
pub struct Pushdown {
    /// The time column's name.
    time_col: &'static str,
    /// Inclusive lower time bound.
    pub from: Option<Timestamp>,
    /// Exclusive upper time bound.
    pub to: Option<Timestamp>,
    /// Devices wanted.
    pub device: Option<HashSet<String>>,
    /// Resources wanted (`resource`, `port` or `outlet` columns).
    pub resource: Option<HashSet<String>>,
    /// Metrics wanted.
    pub metric: Option<HashSet<String>>,
}

fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn instant(v: &ScalarValue) -> Option<Timestamp> {
    let ns = match v {
        ScalarValue::TimestampNanosecond(Some(n), _) => Some(*n),
        ScalarValue::TimestampMicrosecond(Some(n), _) => n.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(n), _) => n.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(n), _) => n.checked_mul(1_000_000_000),
        _ => None,
    };
    ns.map(Timestamp::from_nanos)
}

fn text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn narrow(slot: &mut Option<HashSet<String>>, values: HashSet<String>) {
    *slot = Some(match slot.take() {
        Some(s) => s.intersection(&values).cloned().collect(),
        None => values,
    });
}

impl Pushdown {
    /// From a scan's filters, with `time_col` the time column.
    pub(crate) fn from_filters(filters: &[Expr], time_col: &'static str) -> Self {
        let mut p = Pushdown { time_col, ..Pushdown::default() };
        for f in filters.iter().flat_map(split_conjunction) {
            p.add(f);
        }
        p
    }

    fn add(&mut self, e: &Expr) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (col, op, lit) = match (column_name(left), literal(right), column_name(right), literal(left)) {
                    (Some(c), Some(l), _, _) => (c, *op, l),
                    (_, _, Some(c), Some(l)) => match op.swap() {
                        Some(op) => (c, op, l),
                        None => return,
                    },
                    _ => return,
                };
                if col == self.time_col {
                    let Some(n) = instant(lit) else { return };
                    let after = n.plus_ns(1);
                    match op {
                        Operator::GtEq => self.from = Some(self.from.map_or(n, |f| f.max(n))),
                        Operator::Gt => self.from = Some(self.from.map_or(after, |f| f.max(after))),
                        Operator::Lt => self.to = Some(self.to.map_or(n, |t| t.min(n))),
                        Operator::LtEq => self.to = Some(self.to.map_or(after, |t| t.min(after))),
                        Operator::Eq => {
                            self.from = Some(self.from.map_or(n, |f| f.max(n)));
                            self.to = Some(self.to.map_or(after, |t| t.min(after)));
                        }
                        _ => {}
                    }
                } else if op == Operator::Eq
                    && let Some(s) = text(lit)
                {
                    self.add_key(col, HashSet::from([s]));
                }
            }
            Expr::InList(list) if !list.negated => {
                let Some(col) = column_name(&list.expr) else { return };
                let values: Option<HashSet<String>> = list.list.iter().map(|e| literal(e).and_then(text)).collect();
                if let Some(values) = values {
                    self.add_key(col, values);
                }
            }
            Expr::Between(b) if !b.negated && column_name(&b.expr) == Some(self.time_col) => {
                if let (Some(lo), Some(hi)) = (literal(&b.low).and_then(instant), literal(&b.high).and_then(instant)) {
                    let hi = hi.plus_ns(1);
                    self.from = Some(self.from.map_or(lo, |f| f.max(lo)));
                    self.to = Some(self.to.map_or(hi, |t| t.min(hi)));
                }
            }
            _ => {}
        }
    }

    fn add_key(&mut self, col: &str, values: HashSet<String>) {
        match col {
            "device" => narrow(&mut self.device, values),
            "resource" | "port" | "outlet" => narrow(&mut self.resource, values),
            "metric" => narrow(&mut self.metric, values),
            _ => {}
        }
    }

    /// The store scan filter.
    pub(crate) fn scan_filter(&self, registry: &Registry) -> ScanFilter {
        let series = match (&self.device, &self.resource, &self.metric) {
            (None, None, None) => None,
            // Every part pinned: look the few keys up instead of walking the registry.
            (Some(d), Some(r), Some(m)) => {
                let keys: Vec<SeriesKey> = d
                    .iter()
                    .flat_map(|d| r.iter().flat_map(move |r| m.iter().map(move |m| (d, r, m))))
                    .map(|(d, r, m)| SeriesKey {
                        device: d.as_str().into(),
                        resource: r.as_str().into(),
                        metric: m.as_str().into(),
                    })
                    .collect();
                Some(Arc::new(registry.lookup(keys.iter()).into_iter().flatten().map(|id| id.0).collect()))
            }
            _ => {
                let ok = |set: &Option<HashSet<String>>, v: &str| set.as_ref().is_none_or(|s| s.contains(v));
                Some(Arc::new(SeriesSet::from(registry.select(|k| {
                    ok(&self.device, &k.device) && ok(&self.resource, &k.resource) && ok(&self.metric, &k.metric)
                }))))
            }
        };
        ScanFilter { series, from: self.from, to: self.to }
    }
}
