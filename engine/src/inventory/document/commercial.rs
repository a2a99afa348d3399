//! Readers for the commercial side: customers, rate plans, services, tickets, grid intensity.

use serde_json::Value;

use super::plant::interval;
use crate::domain::currency::Currency;
use crate::domain::rate_plan::{BandwidthMethod, Charge, EnergyBasis, GapFill, MissingBuckets, Pooling};
use crate::domain::{Assignment, Customer, IntensityValue, RatePlan, ResourceRef, Service, Ticket};
use crate::id::{OutletId, PortId};
use crate::inventory::reader::{Obj, Problems, decimal, non_negative, one_of, parsed, text, timestamp, uint};
use crate::time::Interval;

fn currency(v: &Value) -> Result<Currency, String> {
    Currency::parse(&text(v)?).map_err(|e| e.to_string())
}

pub(super) fn customer(v: &Value, path: String, probs: &mut Problems) -> Option<Customer> {
    let mut o = Obj::open(v, path, &["id", "name", "currency", "billing_timezone", "tax_rate"], probs)?;
    let id = o.req("id", parsed);
    let name = o.req("name", text);
    let currency = o.req("currency", currency);
    let billing_timezone = o
        .opt("billing_timezone", |v| {
            let s = text(v)?;
            s.parse::<chrono_tz::Tz>().map_err(|_| format!("{s:?} is not an IANA timezone (e.g. Europe/Amsterdam)"))
        })
        .unwrap_or(chrono_tz::UTC);
    let tax_rate = o.req("tax_rate", |v| {
        let d = decimal(v)?;
        if d.is_sign_negative() && !d.is_zero() || d >= rust_decimal::Decimal::ONE {
            return Err(format!("must be a fraction in [0, 1) such as \"0.21\", found {d}"));
        }
        Ok(d)
    });
    o.finish().then_some(())?;
    Some(Customer { id: id?, name: name?, currency: currency?, billing_timezone, tax_rate: tax_rate? })
}

pub(super) fn rate_plan(v: &Value, path: String, probs: &mut Problems) -> Option<RatePlan> {
    let mut o = Obj::open(v, path, &["id", "name", "currency", "charges"], probs)?;
    let id = o.req("id", parsed);
    let name = o.opt("name", text);
    let currency = o.req("currency", currency);
    if !o.has("charges") {
        o.fail("charges", "is required (a plan bills at least one charge)");
    }
    let charges = o.list("charges", charge);
    o.finish().then_some(())?;
    Some(RatePlan { id: id?, name, currency: currency?, charges })
}

const CHARGE_TYPES: &[&str] = &[
    "rack_rent",
    "energy",
    "committed_power",
    "bandwidth_p95",
    "remote_hands",
    "cross_connect",
    "recurring",
    "one_off",
    "sla_credit",
];

/// The charge's `type`, when it is one colometer knows.
fn charge_type(v: &Value, path: &str, probs: &mut Problems) -> Option<String> {
    let ty = v.get("type").map(text);
    match ty {
        Some(Ok(t)) if CHARGE_TYPES.contains(&t.as_str()) => Some(t),
        Some(Ok(t)) => {
            crate::inventory::reader::push(
                probs,
                format!("{path}.type"),
                format!("{t:?} is not one of: {}", CHARGE_TYPES.join(", ")),
            );
            None
        }
        Some(Err(e)) => {
            crate::inventory::reader::push(probs, format!("{path}.type"), e);
            None
        }
        None => {
            crate::inventory::reader::push(
                probs,
                format!("{path}.type"),
                format!("is required (one of: {})", CHARGE_TYPES.join(", ")),
            );
            None
        }
    }
}

fn charge(v: &Value, path: String, probs: &mut Problems) -> Option<Charge> {
    let ty = charge_type(v, &path, probs)?;
    let fields: &'static [&'static str] = match ty.as_str() {
        "rack_rent" => &["type", "price_per_month"],
        "energy" => &["type", "price_per_kwh", "basis", "gap_fill"],
        "committed_power" => &["type", "committed_kw", "price_per_month", "overage_per_kwh"],
        "bandwidth_p95" => {
            &["type", "commit_mbps", "price_per_month", "overage_per_mbps", "method", "pooling", "missing_buckets"]
        }
        "remote_hands" => &["type", "price_per_hour", "increment_minutes", "minimum_minutes"],
        "cross_connect" => &["type", "description", "price_per_month", "quantity"],
        "recurring" => &["type", "description", "price_per_month", "quantity"],
        "sla_credit" => &["type", "threshold_minutes", "credit_percent_per_hour", "max_credit_percent"],
        _ => &["type", "description", "price"],
    };
    let mut o = Obj::open(v, path, fields, probs)?;
    let charge = match ty.as_str() {
        "rack_rent" => {
            o.req("price_per_month", non_negative).map(|price_per_month| Charge::RackRent { price_per_month })
        }
        "energy" => {
            let price = o.req("price_per_kwh", non_negative);
            let basis = o.opt("basis", one_of(EnergyBasis::SPELLINGS, EnergyBasis::parse)).unwrap_or_default();
            let gap_fill = o.opt("gap_fill", one_of(GapFill::SPELLINGS, GapFill::parse)).unwrap_or_default();
            price.map(|price_per_kwh| Charge::Energy { price_per_kwh, basis, gap_fill })
        }
        "committed_power" => {
            let committed_kw = o.req("committed_kw", non_negative);
            let price_per_month = o.req("price_per_month", non_negative);
            let overage_per_kwh = o.req("overage_per_kwh", non_negative);
            Some(Charge::CommittedPower {
                committed_kw: committed_kw?,
                price_per_month: price_per_month?,
                overage_per_kwh: overage_per_kwh?,
            })
        }
        "bandwidth_p95" => bandwidth_p95(&mut o),
        "remote_hands" => {
            let price_per_hour = o.req("price_per_hour", non_negative);
            let increment_minutes = o.opt("increment_minutes", uint::<u32>).unwrap_or(1);
            let minimum_minutes = o.opt("minimum_minutes", uint::<u32>).unwrap_or(0);
            if increment_minutes == 0 {
                o.fail("increment_minutes", "must be at least 1");
            }
            Some(Charge::RemoteHands { price_per_hour: price_per_hour?, increment_minutes, minimum_minutes })
        }
        "cross_connect" | "recurring" => {
            let description = o.opt("description", text);
            let price_per_month = o.req("price_per_month", non_negative);
            let quantity = o.opt("quantity", non_negative).unwrap_or(rust_decimal::Decimal::ONE);
            if ty == "recurring" {
                if description.is_none() && !o.has("description") {
                    o.fail("description", "is required (it is the invoice text)");
                }
                Some(Charge::Recurring { description: description?, price_per_month: price_per_month?, quantity })
            } else {
                Some(Charge::CrossConnect { description, price_per_month: price_per_month?, quantity })
            }
        }
        "sla_credit" => {
            let threshold_minutes = o.opt("threshold_minutes", uint::<u32>).unwrap_or(5);
            if threshold_minutes == 0 {
                o.fail("threshold_minutes", "must be at least 1");
            }
            let per_hour = o.req("credit_percent_per_hour", non_negative);
            let max = o.opt("max_credit_percent", non_negative).unwrap_or(rust_decimal::Decimal::ONE_HUNDRED);
            if max > rust_decimal::Decimal::ONE_HUNDRED {
                o.fail("max_credit_percent", "must be at most 100");
            }
            Some(Charge::SlaCredit { threshold_minutes, credit_percent_per_hour: per_hour?, max_credit_percent: max })
        }
        _ => {
            let description = o.req("description", text);
            let price = o.req("price", non_negative);
            Some(Charge::OneOff { description: description?, price: price? })
        }
    };
    o.finish().then_some(())?;
    charge
}

fn bandwidth_p95(o: &mut Obj<'_, '_>) -> Option<Charge> {
    let commit_mbps = o.req("commit_mbps", non_negative);
    let price_per_month = o.req("price_per_month", non_negative);
    let overage_per_mbps = o.req("overage_per_mbps", non_negative);
    let method = o.opt("method", one_of(BandwidthMethod::SPELLINGS, BandwidthMethod::parse)).unwrap_or_default();
    let pooling = o.opt("pooling", one_of(Pooling::SPELLINGS, Pooling::parse)).unwrap_or_default();
    let missing_buckets =
        o.opt("missing_buckets", one_of(MissingBuckets::SPELLINGS, MissingBuckets::parse)).unwrap_or_default();
    Some(Charge::BandwidthP95 {
        commit_mbps: commit_mbps?,
        price_per_month: price_per_month?,
        overage_per_mbps: overage_per_mbps?,
        method,
        pooling,
        missing_buckets,
    })
}

pub(super) fn service(v: &Value, path: String, probs: &mut Problems) -> Option<Service> {
    let mut o = Obj::open(v, path, &["id", "customer", "plan", "end", "resources"], probs)?;
    let id = o.req("id", parsed);
    let customer = o.req("customer", parsed);
    let plan = o.req("plan", parsed);
    let end = o.opt("end", timestamp);
    let resources = o.list("resources", assignment);
    o.finish().then_some(())?;
    Some(Service { id: id?, customer: customer?, plan: plan?, end, resources })
}

fn assignment(v: &Value, path: String, probs: &mut Problems) -> Option<Assignment> {
    let mut o = Obj::open(v, path, &["rack", "outlet", "port", "asset", "from", "to"], probs)?;
    let given: Vec<&str> = ["rack", "outlet", "port", "asset"].into_iter().filter(|k| o.has(k)).collect();
    let resource = match given.as_slice() {
        ["rack"] => o.req("rack", parsed).map(ResourceRef::Rack),
        ["outlet"] => {
            o.req("outlet", |v| OutletId::parse(&text(v)?).map_err(|e| e.to_string())).map(ResourceRef::Outlet)
        }
        ["port"] => o.req("port", |v| PortId::parse(&text(v)?).map_err(|e| e.to_string())).map(ResourceRef::Port),
        ["asset"] => o.req("asset", parsed).map(ResourceRef::Asset),
        [] => {
            o.fail("rack", "one of rack, outlet, port or asset is required");
            None
        }
        many => {
            o.fail(many[1], format!("give exactly one of rack, outlet, port, asset (found {})", many.join(", ")));
            None
        }
    };
    let interval: Option<Interval> = interval(&mut o);
    o.finish().then_some(())?;
    Some(Assignment { resource: resource?, interval: interval? })
}

pub(super) fn ticket(v: &Value, path: String, probs: &mut Problems) -> Option<Ticket> {
    let mut o =
        Obj::open(v, path, &["id", "customer", "service", "rack", "asset", "from", "to", "description"], probs)?;
    let id = o.req("id", parsed);
    let customer = o.req("customer", parsed);
    let service = o.req("service", parsed);
    let rack = o.opt("rack", parsed);
    let asset = o.opt("asset", parsed);
    if !o.has("to") {
        o.fail("to", "is required (the end of the work is what gets billed)");
    }
    let work = interval(&mut o);
    let description = o.req("description", text);
    o.finish().then_some(())?;
    Some(Ticket {
        id: id?,
        customer: customer?,
        service: service?,
        rack,
        asset,
        work: work?,
        description: description?,
    })
}

pub(super) fn intensity(v: &Value, path: String, probs: &mut Problems) -> Option<IntensityValue> {
    let mut o = Obj::open(v, path, &["region", "from", "to", "g_per_kwh"], probs)?;
    let region = o.req("region", parsed);
    let interval = interval(&mut o);
    let g_per_kwh = o.req("g_per_kwh", non_negative);
    o.finish().then_some(())?;
    Some(IntensityValue { region: region?, interval: interval?, g_per_kwh: g_per_kwh? })
}
