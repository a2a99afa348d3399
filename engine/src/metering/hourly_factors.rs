//! Each site's PUE and intensity hour by hour, looked up once per site and hour for a whole
//! billing run rather than once per outlet-hour, and the hours each outlet used them counted by
//! class (one class per distinct `(PUE, intensity, defaulted)`), so the evidence's "factors used"
//! table costs a counter increment per hour.

use std::cell::RefCell;
use std::collections::HashMap;

use rust_decimal::Decimal;

use super::carbon::Factors;
use super::factors::Factorbook;
use crate::id::SiteId;
use crate::time::Timestamp;

const HOUR_NS: i64 = 3_600 * 1_000_000_000;
/// Hours kept per site: four months from a month before the first hour asked (a month and the
/// month before it, for SLA credits, with room around). Hours outside are computed each time.
const KEPT_HOURS: i64 = 4 * 31 * 24;

type ClassKey = (Decimal, Decimal, bool);

/// One site's hours and classes.
struct SiteHours {
    site: Option<SiteId>,
    /// Start of the first hour kept (`None` until the first question).
    first_hour: Option<Timestamp>,
    hours: Vec<Option<(Factors, u32)>>,
    classes: Vec<Factors>,
    class_of: HashMap<ClassKey, u32>,
    /// Class IDs in value order, rebuilt when a class is added.
    order: Option<Vec<u32>>,
}

impl SiteHours {
    fn class(&mut self, f: Factors) -> u32 {
        let next = self.classes.len() as u32;
        let id = *self.class_of.entry((f.pue, f.g_per_kwh, f.defaulted)).or_insert(next);
        if id == next {
            self.classes.push(f);
            self.order = None;
        }
        id
    }
}

/// Hourly factors of every site met so far (one per thread: interior mutability, not shared).
pub struct HourlyFactors<'a> {
    book: Factorbook<'a>,
    sites: RefCell<Vec<SiteHours>>,
}

/// Hours counted per site slot and class for one outlet.
#[derive(Debug, Default)]
pub struct HourCounts {
    /// `(site slot, hours by class)`.
    by_site: Vec<(usize, Vec<u64>)>,
}

/// One row of "factors used": a site, its factors, and how many hours they applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorHours {
    /// The site.
    pub site: Option<SiteId>,
    /// The factors.
    pub factors: Factors,
    /// Hours.
    pub hours: u64,
}

impl<'a> HourlyFactors<'a> {
    /// Over `book`'s factors.
    pub fn new(book: Factorbook<'a>) -> Self {
        Self { book, sites: RefCell::new(Vec::new()) }
    }

    /// The factors looked up.
    pub fn book(&self) -> &Factorbook<'a> {
        &self.book
    }

    /// The slot of `site` (added when first met).
    pub fn slot(&self, site: Option<&SiteId>) -> usize {
        let mut sites = self.sites.borrow_mut();
        if let Some(i) = sites.iter().position(|s| s.site.as_ref() == site) {
            return i;
        }
        sites.push(SiteHours {
            site: site.cloned(),
            first_hour: None,
            hours: Vec::new(),
            classes: Vec::new(),
            class_of: HashMap::new(),
            order: None,
        });
        sites.len() - 1
    }

    /// The factors of the site in `slot` at the hour starting at `hour`, counted in `counts`.
    pub fn at(&self, slot: usize, hour: Timestamp, counts: &mut HourCounts) -> Factors {
        let mut sites = self.sites.borrow_mut();
        let Some(s) = sites.get_mut(slot) else {
            return self.book.factors(None, hour);
        };
        let h = hour.floor_to(HOUR_NS);
        let first = *s.first_hour.get_or_insert_with(|| {
            s.hours = vec![None; KEPT_HOURS as usize];
            h.minus_ns(31 * 24 * HOUR_NS)
        });
        let k = usize::try_from(h.nanos_since(first).div_euclid(HOUR_NS)).ok().filter(|&k| k < s.hours.len());
        let (f, class) = match k.and_then(|k| s.hours[k]) {
            Some(hit) => hit,
            None => {
                let f = self.book.factors(s.site.as_ref(), hour);
                let class = s.class(f);
                if let Some(k) = k {
                    s.hours[k] = Some((f, class));
                }
                (f, class)
            }
        };
        let i = match counts.by_site.iter().position(|(sl, _)| *sl == slot) {
            Some(i) => i,
            None => {
                counts.by_site.push((slot, Vec::new()));
                counts.by_site.len() - 1
            }
        };
        let by_class = &mut counts.by_site[i].1;
        if by_class.len() <= class as usize {
            by_class.resize(class as usize + 1, 0);
        }
        by_class[class as usize] += 1;
        f
    }

    /// The hours counted, ordered by site, then PUE, intensity and whether defaulted.
    pub fn used(&self, counts: HourCounts) -> Vec<FactorHours> {
        let mut sites = self.sites.borrow_mut();
        let mut by_site = counts.by_site;
        by_site.sort_by(|a, b| sites[a.0].site.cmp(&sites[b.0].site));
        let mut out = Vec::new();
        for (slot, by_class) in by_site {
            let s = &mut sites[slot];
            let classes = &s.classes;
            let order = s.order.get_or_insert_with(|| {
                let mut o: Vec<u32> = (0..classes.len() as u32).collect();
                o.sort_by(|&a, &b| {
                    let (x, y) = (&classes[a as usize], &classes[b as usize]);
                    (x.pue, x.g_per_kwh, x.defaulted).cmp(&(y.pue, y.g_per_kwh, y.defaulted))
                });
                o
            });
            for &c in order.iter() {
                if let Some(&hours) = by_class.get(c as usize).filter(|&&n| n > 0) {
                    out.push(FactorHours { site: s.site.clone(), factors: classes[c as usize], hours });
                }
            }
        }
        out
    }
}
