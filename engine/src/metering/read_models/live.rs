//! What a customer's live view shows at one instant: the power of each outlet it holds now, the
//! current rate of each of its ports, and the month so far (kWh, kgCO2e, running 95th,
//! projections). Built from the newest raw readings, so it moves as readings arrive.
//!
//! Readings of the live figures (the spec pins none of them; these are shown, never billed):
//! - An outlet's power is its newest `power_w` reading within the look-back; without one, the
//!   average over its two newest `energy_wh` readings (a counter that went down gives none).
//! - A port's rate per direction is the counter delta between its two newest readings over their
//!   time apart, in Mbps; a counter that went down (reset or wrap) gives none until the next
//!   reading.
//! - The look-back is three poll intervals of the device, at least 30 s: older readings are not
//!   "live", and the figure is shown as absent (`null`).
//! - Figures are shown normalised (`"1"`, not `"1.000000"`).

use std::collections::BTreeSet;
use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::domain::ResourceRef;
use crate::domain::metric;
use crate::id::{CustomerId, OutletId, PortId};
use crate::metering::read_models::month_to_date::{MonthToDate, month_to_date};
use crate::metering::usage::{Sources, UsageError};
use crate::store::buffer::ScanFilter;
use crate::store::reading::{SeriesKey, VALUE_SCALE};
use crate::store::series_set::SeriesSet;
use crate::time::Timestamp;

const SECOND_NS: i64 = 1_000_000_000;

/// One outlet's power now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutletPower {
    /// `pdu/index`.
    pub outlet: String,
    /// Watts (exact as read, or the counter's average to 3 decimals); `null` when nothing recent.
    pub power_w: Option<Decimal>,
    /// The reading it comes from.
    pub at: Option<Timestamp>,
}

/// One port's rate now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortRate {
    /// `switch/ifName`.
    pub port: String,
    /// Inbound (the customer's upload), Mbps to 6 decimals.
    pub in_mbps: Option<Decimal>,
    /// Outbound (the customer's download), Mbps to 6 decimals.
    pub out_mbps: Option<Decimal>,
    /// The newest reading used.
    pub at: Option<Timestamp>,
}

/// The live view of a customer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Live {
    /// The customer.
    pub customer: String,
    /// When it was computed.
    pub at: Timestamp,
    /// Outlets held now, by ID.
    pub power: Vec<OutletPower>,
    /// Ports held now, by ID.
    pub bandwidth: Vec<PortRate>,
    /// The billing month so far.
    pub month_to_date: MonthToDate,
}

fn key(device: &str, resource: &str, metric: &str) -> SeriesKey {
    SeriesKey { device: device.into(), resource: resource.into(), metric: metric.into() }
}

/// The newest two readings of a series in `[from, to)`, oldest first.
fn newest_two(
    src: &Sources<'_>,
    k: &SeriesKey,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(Timestamp, Decimal)>, UsageError> {
    let Some(id) = src.store.registry().get(k) else { return Ok(Vec::new()) };
    let filter = ScanFilter { series: Some(Arc::new(SeriesSet::from_iter([id.0]))), from: Some(from), to: Some(to) };
    let rows = src.store.scan(&filter).map_err(UsageError::from)?;
    let n = rows.len();
    Ok((n.saturating_sub(2)..n)
        .map(|i| (Timestamp::from_nanos(rows.ts[i]), Decimal::from_i128_with_scale(rows.value[i], VALUE_SCALE)))
        .collect())
}

fn look_back_ns(poll_ns: i64) -> i64 {
    poll_ns.saturating_mul(3).max(30 * SECOND_NS)
}

/// A counter's rate between two readings, per second; `None` if it went down or no time passed.
fn per_second(a: (Timestamp, Decimal), b: (Timestamp, Decimal)) -> Option<Decimal> {
    let dt = b.0.nanos_since(a.0);
    (b.1 >= a.1 && dt > 0).then(|| (b.1 - a.1) * Decimal::from(SECOND_NS) / Decimal::from(dt))
}

fn outlet_power(src: &Sources<'_>, o: &OutletId, now: Timestamp) -> Result<OutletPower, UsageError> {
    let (pdu, index) = (o.pdu.as_str(), o.index.to_string());
    let from = now.minus_ns(look_back_ns(src.plant.pdu_poll_ns(&o.pdu)));
    let power = newest_two(src, &key(pdu, &index, metric::POWER_W), from, now.plus_ns(1))?;
    let (power_w, at) = match power.last() {
        Some(&(ts, w)) => (Some(w.normalize()), Some(ts)),
        None => match newest_two(src, &key(pdu, &index, metric::ENERGY_WH), from, now.plus_ns(1))?.as_slice() {
            &[a, b] => match per_second(a, b) {
                Some(wh_per_s) => (
                    Some(
                        (wh_per_s * Decimal::from(3600))
                            .round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero)
                            .normalize(),
                    ),
                    Some(b.0),
                ),
                None => (None, Some(b.0)),
            },
            _ => (None, None),
        },
    };
    Ok(OutletPower { outlet: o.to_string(), power_w, at })
}

fn port_rate(src: &Sources<'_>, p: &PortId, now: Timestamp) -> Result<PortRate, UsageError> {
    let (switch, name) = (p.switch.as_str(), p.name.as_str());
    let mut at = None;
    let mut rate = |metric: &str| -> Result<Option<Decimal>, UsageError> {
        let k = key(switch, name, metric);
        let poll = src.plant.port_meta(&k).map_or(10 * SECOND_NS, |m| m.poll_ns);
        let two = newest_two(src, &k, now.minus_ns(look_back_ns(poll)), now.plus_ns(1))?;
        let &[a, b] = two.as_slice() else { return Ok(None) };
        at = at.max(Some(b.0));
        Ok(per_second(a, b).map(|bytes_per_s| {
            (bytes_per_s * Decimal::from(8) / Decimal::from(1_000_000))
                .round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
                .normalize()
        }))
    };
    let in_mbps = rate(metric::IN_OCTETS)?;
    let out_mbps = rate(metric::OUT_OCTETS)?;
    Ok(PortRate { port: p.to_string(), in_mbps, out_mbps, at })
}

/// The live view of `customer` at `now`: the outlets and ports its services hold at `now`.
pub fn live(src: &Sources<'_>, customer: &CustomerId, now: Timestamp) -> Result<Live, UsageError> {
    let inv = src.inventory;
    if !inv.customers.contains_key(customer) {
        return Err(UsageError::UnknownCustomer(customer.to_string()));
    }
    let (mut outlets, mut ports) = (BTreeSet::new(), BTreeSet::new());
    for s in inv.services.values().filter(|s| &s.customer == customer) {
        for (r, iv) in inv.effective_assignments(s) {
            if !iv.contains(now) {
                continue;
            }
            match r {
                ResourceRef::Outlet(o) => {
                    outlets.insert(o);
                }
                ResourceRef::Port(p) => {
                    ports.insert(p);
                }
                ResourceRef::Rack(_) | ResourceRef::Asset(_) => {}
            }
        }
    }
    Ok(Live {
        customer: customer.to_string(),
        at: now,
        power: outlets.iter().map(|o| outlet_power(src, o, now)).collect::<Result<_, _>>()?,
        bandwidth: ports.iter().map(|p| port_rate(src, p, now)).collect::<Result<_, _>>()?,
        month_to_date: month_to_date(src, customer, now)?,
    })
}
