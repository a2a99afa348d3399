//! API tokens and roles. A token's secret is shown once, at creation; only its SHA-256 is stored.
//! Secrets carry 256 random bits, so a plain (unsalted) hash is enough to make a stolen catalog
//! useless for logging in, and lets a request's token be found by an indexed lookup.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::id::{CustomerId, TokenId};
use crate::time::Timestamp;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// Usage, billing runs and invoices of every customer.
    Billing,
    /// One customer's own data, read-only.
    Customer(CustomerId),
    /// Pushing readings.
    Ingest,
}

/// Why a role cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// Not `admin`, `billing`, `customer` or `ingest`.
    #[error("unknown role {0:?} (expected admin, billing, customer or ingest)")]
    Unknown(String),
    /// `customer` without a customer.
    #[error("role customer needs a customer id")]
    MissingCustomer,
    /// A customer given for a role that is not `customer`.
    #[error("only role customer takes a customer id")]
    UnexpectedCustomer,
}

impl Role {
    /// Builds a role from its name and, for `customer`, the customer.
    pub fn new(name: &str, customer: Option<CustomerId>) -> Result<Self, RoleError> {
        match (name, customer) {
            ("customer", Some(c)) => Ok(Role::Customer(c)),
            ("customer", None) => Err(RoleError::MissingCustomer),
            ("admin" | "billing" | "ingest", Some(_)) => Err(RoleError::UnexpectedCustomer),
            ("admin", None) => Ok(Role::Admin),
            ("billing", None) => Ok(Role::Billing),
            ("ingest", None) => Ok(Role::Ingest),
            (other, _) => Err(RoleError::Unknown(other.to_owned())),
        }
    }

    /// The role's name.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Billing => "billing",
            Role::Customer(_) => "customer",
            Role::Ingest => "ingest",
        }
    }

    /// The customer a customer token is bound to.
    pub fn customer(&self) -> Option<&CustomerId> {
        match self {
            Role::Customer(c) => Some(c),
            _ => None,
        }
    }
}

/// The SHA-256 of a token secret: what the catalog stores and looks up.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a presented secret.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", hex::encode(&self.0[..4]))
    }
}

/// A stored token (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public identifier, for listing and revoking.
    pub id: TokenId,
    /// SHA-256 of the secret.
    pub hash: TokenHash,
    /// What it may do.
    pub role: Role,
    /// Free text: who or what uses it.
    pub label: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A freshly generated token: the secret to hand out once, and the record to store.
pub struct NewToken {
    /// `colo_` followed by 64 hex digits; shown once.
    pub secret: String,
    /// What the catalog keeps.
    pub record: TokenRecord,
}

/// Generates a token with 256 random bits from the operating system's generator.
pub fn generate(role: Role, label: Option<String>, now: Timestamp) -> Result<NewToken, crate::id::IdError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("colo_{}", hex::encode(bytes));
    let hash = TokenHash::of(&secret);
    let id = TokenId::new(format!("tok-{}", hex::encode(&hash.0[..6])))?;
    Ok(NewToken { secret, record: TokenRecord { id, hash, role, label, created_at: now, revoked_at: None } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_tokens() {
        let c = CustomerId::new("acme").unwrap();
        assert_eq!(Role::new("customer", Some(c.clone())), Ok(Role::Customer(c.clone())));
        assert_eq!(Role::new("customer", None), Err(RoleError::MissingCustomer));
        assert_eq!(Role::new("admin", Some(c)), Err(RoleError::UnexpectedCustomer));
        assert_eq!(Role::new("root", None), Err(RoleError::Unknown("root".into())));
        let t = generate(Role::Admin, None, Timestamp::from_secs(0)).unwrap();
        assert_eq!(t.secret.len(), 5 + 64);
        assert_eq!(t.record.hash, TokenHash::of(&t.secret));
        assert_ne!(t.record.hash, TokenHash::of("colo_guess"));
    }
}
