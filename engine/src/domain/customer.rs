//! Customers.

use rust_decimal::Decimal;

use super::currency::Currency;
use crate::id::CustomerId;

/// A customer: who is invoiced, in which currency, timezone and tax rate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Customer {
    /// The customer's ID.
    pub id: CustomerId,
    /// Legal or display name.
    pub name: String,
    /// Invoice currency; every plan of the customer's services must use it.
    pub currency: Currency,
    /// IANA timezone whose calendar months are the billing periods.
    #[serde(serialize_with = "serialize_tz")]
    pub billing_timezone: chrono_tz::Tz,
    /// Tax rate as a fraction in `[0, 1)` (`0.21` is 21 %).
    pub tax_rate: Decimal,
}

fn serialize_tz<S: serde::Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}
