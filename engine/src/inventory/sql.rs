//! The inventory as tables for SQL: `assignments(service, customer, plan, kind, resource, from,
//! to, effective_from, effective_to)`, every resource assignment with its raw interval and the
//! part of it that bills (clipped by the service's end and the life of the asset behind it;
//! `effective_from` is null when nothing of it bills).

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

use super::Inventory;

/// The schema of `assignments`.
pub fn assignments_schema() -> SchemaRef {
    let ts = |name: &str, nullable| {
        Field::new(name, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), nullable)
    };
    Arc::new(Schema::new(vec![
        Field::new("service", DataType::Utf8, false),
        Field::new("customer", DataType::Utf8, false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("resource", DataType::Utf8, false),
        ts("from", false),
        ts("to", true),
        ts("effective_from", true),
        ts("effective_to", true),
    ]))
}

/// Every assignment of every service, in service order.
pub fn assignments(inv: &Inventory) -> Result<RecordBatch, ArrowError> {
    let (mut service, mut customer, mut plan, mut kind, mut resource) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut from, mut to, mut eff_from, mut eff_to) = (vec![], vec![], vec![], vec![]);
    for s in inv.services.values() {
        for a in &s.resources {
            service.push(s.id.to_string());
            customer.push(s.customer.to_string());
            plan.push(s.plan.to_string());
            kind.push(a.resource.kind());
            resource.push(a.resource.key());
            from.push(a.interval.from.as_nanos());
            to.push(a.interval.to.map(|t| t.as_nanos()));
            let eff = inv.effective_interval(s, a);
            eff_from.push(eff.map(|e| e.from.as_nanos()));
            eff_to.push(eff.and_then(|e| e.to.map(|t| t.as_nanos())));
        }
    }
    let ts = |v: Vec<Option<i64>>| Arc::new(TimestampNanosecondArray::from(v).with_timezone("UTC"));
    RecordBatch::try_new(
        assignments_schema(),
        vec![
            Arc::new(StringArray::from(service)),
            Arc::new(StringArray::from(customer)),
            Arc::new(StringArray::from(plan)),
            Arc::new(StringArray::from(kind)),
            Arc::new(StringArray::from(resource)),
            Arc::new(TimestampNanosecondArray::from(from).with_timezone("UTC")),
            ts(to),
            ts(eff_from),
            ts(eff_to),
        ],
    )
}
