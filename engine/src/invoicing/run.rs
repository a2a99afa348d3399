//! Rating a customer's billing period: every service of the customer, metered and priced under its
//! plan, in service order; the sustainability statement from the same measurements.

use std::collections::BTreeMap;

use super::invoice::{Rated, ResourceFootprint, Sustainability, six};
use crate::domain::{RatePlan, Service};
use crate::id::{CustomerId, ServiceId, TicketId};
use crate::inventory::Inventory;
use crate::metering::bucket_table::BucketError;
use crate::metering::meter::Meter;
use crate::metering::usage::Sources;
use crate::period::{BillingPeriod, PeriodError};
use crate::rating::charge::{Context, PreviousMonth, rate_service};
use crate::store::StoreError;
use crate::time::Timestamp;

/// Why a customer's period cannot be rated.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No such customer.
    #[error("unknown customer '{0}'")]
    UnknownCustomer(CustomerId),
    /// A service's plan is missing (inventory validation prevents it).
    #[error("service '{service}' names plan '{plan}', which does not exist")]
    UnknownPlan {
        /// The service.
        service: ServiceId,
        /// The plan.
        plan: String,
    },
    /// The period cannot be formed.
    #[error(transparent)]
    Period(#[from] PeriodError),
    /// Reading the store, or the bucket table over it, failed.
    #[error(transparent)]
    Store(#[from] BucketError),
    /// Amounts of two currencies met (a plan or a previous month rated in another currency).
    #[error(transparent)]
    Currency(#[from] crate::domain::CurrencyMismatch),
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        RunError::Store(e.into())
    }
}

/// Rates `customer` for `period`: `None` when nothing bills (no lines).
pub fn rate_customer(
    src: &Sources<'_>,
    meter: &Meter<'_>,
    tickets: &BTreeMap<ServiceId, Vec<TicketId>>,
    customer: &CustomerId,
    period: BillingPeriod,
) -> Result<Option<Rated>, RunError> {
    let services: Vec<&Service> = src.inventory.services.values().filter(|s| &s.customer == customer).collect();
    rate_services(src, meter, tickets, customer, &services, period)
}

/// Rates one customer's `services` (in service order).
fn rate_services(
    src: &Sources<'_>,
    meter: &Meter<'_>,
    tickets: &BTreeMap<ServiceId, Vec<TicketId>>,
    customer: &CustomerId,
    services: &[&Service],
    period: BillingPeriod,
) -> Result<Option<Rated>, RunError> {
    let inv: &Inventory = src.inventory;
    let c = inv.customers.get(customer).ok_or_else(|| RunError::UnknownCustomer(customer.clone()))?;
    let window = period.interval(c.billing_timezone)?;
    let mut lines = Vec::new();
    let mut sustainability = Sustainability::default();
    for &service in services {
        let plan = inv
            .rate_plans
            .get(&service.plan)
            .ok_or_else(|| RunError::UnknownPlan { service: service.id.clone(), plan: service.plan.to_string() })?;
        let m = meter.service(service, plan, &window)?;
        let mut ctx = Context {
            plan,
            currency: c.currency,
            tickets: tickets.get(&service.id).into_iter().flatten().filter_map(|id| inv.tickets.get(id)).collect(),
            first_assignment: service.resources.iter().map(|a| a.interval.from).min(),
            previous: None,
        };
        if plan.has_sla() {
            // Outages are credited on the next invoice: look at the month before, rated the same
            // way (its recurring lines are the credit's base).
            let before = period.previous();
            let prev = meter.service(service, plan, &before.interval(c.billing_timezone)?)?;
            let recurring =
                rate_service(&prev, &ctx)?.into_iter().map(|r| r.line).filter(|l| l.unit == "month").collect();
            ctx.previous = Some(PreviousMonth { period: before, outages: prev.outages, recurring });
        }
        lines.extend(rate_service(&m, &ctx)?);
        for o in &m.outlets {
            sustainability.it_kwh += o.it_kwh;
            sustainability.facility_kwh += o.facility_kwh;
            sustainability.kg_co2e += o.kg_co2e;
            sustainability.resources.push(ResourceFootprint {
                resource: o.outlet.clone(),
                service: service.id.to_string(),
                it_kwh: six(o.it_kwh),
                facility_kwh: six(o.facility_kwh),
                kg_co2e: six(o.kg_co2e),
            });
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    sustainability.it_kwh = six(sustainability.it_kwh);
    sustainability.facility_kwh = six(sustainability.facility_kwh);
    sustainability.kg_co2e = six(sustainability.kg_co2e);
    Ok(Some(Rated {
        customer: customer.clone(),
        customer_name: c.name.clone(),
        period,
        from: window.from,
        to: window.end(),
        currency: c.currency,
        tax_rate: c.tax_rate,
        lines,
        sustainability,
    }))
}

/// Tickets by service (built once per run).
pub fn tickets_by_service(inv: &Inventory) -> BTreeMap<ServiceId, Vec<TicketId>> {
    let mut out: BTreeMap<ServiceId, Vec<TicketId>> = BTreeMap::new();
    for t in inv.tickets.values() {
        out.entry(t.service.clone()).or_default().push(t.id.clone());
    }
    out
}

/// The customers to bill for a period: every customer with a service (IDs in order).
pub fn billable_customers(inv: &Inventory) -> Vec<CustomerId> {
    let mut ids: Vec<CustomerId> = inv.services.values().map(|s| s.customer.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The year an invoice finalized at `at` is numbered in (UTC).
pub fn numbering_year(at: Timestamp) -> i32 {
    use chrono::Datelike;
    at.to_datetime().year()
}

/// A chunk's position and its customers' results.
type RatedChunk = (usize, Vec<Rated>);

/// Most raw samples loaded for one chunk of customers (one store scan per chunk; about 100 bytes
/// each in memory, so about 100 MiB per thread). Day segments are sorted by series and pruned by
/// row group, so a small chunk reads little more than its own rows; and a small chunk's buffers
/// are freed and reused by the next one before the allocator returns them to the system. With
/// 8M-sample chunks (about 1 GiB), every chunk's scan faulted in fresh memory that the kernel had
/// to zero: a quarter of a billing run's time, and the main cause of its run-to-run variance.
const CHUNK_SAMPLES: u64 = 1_000_000;

/// Rates every billable customer for `period`: what a billing run stores. Customers with nothing
/// to bill are left out of the result (their stale drafts are discarded by the ledger). Outlet
/// samples are loaded a chunk of customers at a time, with one scan each; chunks are rated on
/// `threads` threads and the result keeps customer order (the same run gives the same output).
pub fn rate_period(
    src: &Sources<'_>,
    period: BillingPeriod,
    threads: usize,
) -> Result<(Vec<CustomerId>, Vec<Rated>), RunError> {
    let inv = src.inventory;
    let tickets = tickets_by_service(inv);
    let customers = billable_customers(inv);
    let mut by_customer: BTreeMap<&CustomerId, Vec<&Service>> = BTreeMap::new();
    for s in inv.services.values() {
        by_customer.entry(&s.customer).or_default().push(s);
    }
    // As few chunks as the sample bound allows, at least one per thread so they share the work.
    let threads = threads.max(1);
    let cost: Vec<u64> =
        customers.iter().map(|c| expected_samples(src, by_customer.get(c).map_or(&[][..], Vec::as_slice))).collect();
    let total: u64 = cost.iter().sum();
    let budget = CHUNK_SAMPLES.min(total.div_ceil(threads as u64)).max(1);
    let mut chunks: Vec<&[CustomerId]> = Vec::new();
    let (mut start, mut acc) = (0, 0u64);
    for (i, c) in cost.iter().enumerate() {
        if i > start && acc + c > budget {
            chunks.push(&customers[start..i]);
            (start, acc) = (i, 0);
        }
        acc += c;
    }
    if start < customers.len() {
        chunks.push(&customers[start..]);
    }
    let threads = threads.clamp(1, chunks.len().max(1));
    let results: Vec<Result<Vec<RatedChunk>, RunError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (chunks, tickets, by_customer) = (&chunks, &tickets, &by_customer);
                scope.spawn(move || {
                    let meter = Meter::new(src);
                    let mut out = Vec::new();
                    for (i, chunk) in chunks.iter().enumerate().skip(t).step_by(threads) {
                        out.push((i, rate_chunk(src, &meter, tickets, by_customer, chunk, period)?));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut done: Vec<RatedChunk> = Vec::with_capacity(chunks.len());
    for r in results {
        done.extend(r?);
    }
    done.sort_by_key(|(i, _)| *i);
    Ok((customers, done.into_iter().flat_map(|(_, r)| r).collect()))
}

/// About how many raw samples metering these services for a month reads: per outlet, the
/// month (two, with an SLA's previous month) plus the look-around, at its PDU's poll interval,
/// for energy and power.
fn expected_samples(src: &Sources<'_>, services: &[&Service]) -> u64 {
    const MONTH_NS: i64 = 31 * 86_400 * 1_000_000_000;
    services
        .iter()
        .map(|s| {
            let months = if src.inventory.rate_plans.get(&s.plan).is_some_and(RatePlan::has_sla) { 2 } else { 1 };
            s.outlets()
                .map(|o| src.plant.pdu_poll_ns(&o.pdu).max(1_000_000_000))
                .map(|poll| {
                    let span = months * MONTH_NS + 2 * crate::metering::usage::look_around_ns(poll);
                    2 * u64::try_from(span / poll).unwrap_or(0)
                })
                .sum::<u64>()
        })
        .sum::<u64>()
        .max(1)
}

/// One chunk of customers: their outlets' samples loaded in one scan, then each rated.
fn rate_chunk(
    src: &Sources<'_>,
    meter: &Meter<'_>,
    tickets: &BTreeMap<ServiceId, Vec<TicketId>>,
    by_customer: &BTreeMap<&CustomerId, Vec<&Service>>,
    chunk: &[CustomerId],
    period: BillingPeriod,
) -> Result<Vec<Rated>, RunError> {
    let inv = src.inventory;
    let mut outlets = Vec::new();
    let (mut from, mut to) = (Timestamp::MAX, Timestamp::MIN);
    for c in chunk {
        let Some(customer) = inv.customers.get(c) else { continue };
        let window = period.interval(customer.billing_timezone)?;
        for s in by_customer.get(c).into_iter().flatten() {
            let sla = inv.rate_plans.get(&s.plan).is_some_and(RatePlan::has_sla);
            // SLA plans also meter the month before (outages are credited on the next invoice).
            let start = if sla { period.previous().interval(customer.billing_timezone)?.from } else { window.from };
            from = from.min(start);
            to = to.max(window.end());
            outlets.extend(s.outlets().cloned());
        }
    }
    if !outlets.is_empty() {
        meter.preload(&outlets, from, to)?;
    }
    let mut rated = Vec::with_capacity(chunk.len());
    for c in chunk {
        let services = by_customer.get(c).map_or(&[][..], Vec::as_slice);
        if let Some(r) = rate_services(src, meter, tickets, c, services, period)? {
            rated.push(r);
        }
    }
    Ok(rated)
}
