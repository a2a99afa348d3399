//! Read models for people, not for billing: what the portal and the live API draw — a
//! customer's chart series ([`history`]), live view ([`live`]), the month so far
//! ([`month_to_date`]) — and the usage objects kept between requests ([`usage_cache`]). They read
//! what the billing math computes and never feed an invoice.

pub mod history;
pub mod live;
pub mod month_to_date;
pub mod usage_cache;
