//! [`IdempotencyKeys`] on SQLite: the claim and its check are one `BEGIN IMMEDIATE` transaction.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteCatalog;
use crate::catalog::CatalogError;
use crate::catalog::idempotency::{Claim, IdempotencyKeys, KEEP_NS, StoredKey, StoredResponse};
use crate::time::Timestamp;

impl IdempotencyKeys for SqliteCatalog {
    fn claim_idempotency_key(
        &mut self,
        scope: &[u8; 32],
        key: &str,
        fingerprint: &[u8; 32],
        now: Timestamp,
    ) -> Result<Claim, CatalogError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM idempotency WHERE started_ns < ?1", params![now.as_nanos().saturating_sub(KEEP_NS)])?;
        let found = tx
            .query_row(
                "SELECT fingerprint, status, content_type, body FROM idempotency WHERE scope = ?1 AND key = ?2",
                params![&scope[..], key],
                |r| Ok(StoredKey::from_row(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let claim = match found {
            Some(stored) => stored.claim(fingerprint),
            None => {
                tx.execute(
                    "INSERT INTO idempotency (scope, key, fingerprint, started_ns) VALUES (?1, ?2, ?3, ?4)",
                    params![&scope[..], key, &fingerprint[..], now.as_nanos()],
                )?;
                Claim::Claimed
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    fn complete_idempotency_key(
        &mut self,
        scope: &[u8; 32],
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), CatalogError> {
        self.conn.execute(
            "UPDATE idempotency SET status = ?3, content_type = ?4, body = ?5 WHERE scope = ?1 AND key = ?2",
            params![&scope[..], key, i64::from(response.status), response.content_type, response.body],
        )?;
        Ok(())
    }

    fn release_idempotency_key(&mut self, scope: &[u8; 32], key: &str) -> Result<(), CatalogError> {
        self.conn.execute(
            "DELETE FROM idempotency WHERE scope = ?1 AND key = ?2 AND status IS NULL",
            params![&scope[..], key],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];
    const F: [u8; 32] = [7; 32];
    const G: [u8; 32] = [8; 32];

    fn at(s: i64) -> Timestamp {
        Timestamp::from_secs(1_790_812_800 + s)
    }

    #[test]
    fn a_key_is_claimed_once_replayed_after_completion_and_scoped_to_its_caller() -> Result<(), CatalogError> {
        let mut c = SqliteCatalog::in_memory()?;
        assert_eq!(c.claim_idempotency_key(&A, "k1", &F, at(0))?, Claim::Claimed);
        assert_eq!(c.claim_idempotency_key(&A, "k1", &F, at(1))?, Claim::InProgress);
        assert_eq!(c.claim_idempotency_key(&A, "k1", &G, at(1))?, Claim::Mismatch);
        // Another caller's key of the same name is its own.
        assert_eq!(c.claim_idempotency_key(&B, "k1", &G, at(1))?, Claim::Claimed);
        let r =
            StoredResponse { status: 201, content_type: Some("application/json".into()), body: b"{\"id\":1}".to_vec() };
        c.complete_idempotency_key(&A, "k1", &r)?;
        assert_eq!(c.claim_idempotency_key(&A, "k1", &F, at(2))?, Claim::Replay(r.clone()));
        // A completed key is not released.
        c.release_idempotency_key(&A, "k1")?;
        assert_eq!(c.claim_idempotency_key(&A, "k1", &F, at(3))?, Claim::Replay(r));
        // A released claim runs again.
        c.release_idempotency_key(&B, "k1")?;
        assert_eq!(c.claim_idempotency_key(&B, "k1", &G, at(4))?, Claim::Claimed);
        Ok(())
    }

    #[test]
    fn keys_expire_after_a_day() -> Result<(), CatalogError> {
        let mut c = SqliteCatalog::in_memory()?;
        assert_eq!(c.claim_idempotency_key(&A, "k", &F, at(0))?, Claim::Claimed);
        let day = KEEP_NS / 1_000_000_000;
        assert_eq!(c.claim_idempotency_key(&A, "k", &G, at(day))?, Claim::Mismatch);
        assert_eq!(c.claim_idempotency_key(&A, "k", &G, at(day + 1))?, Claim::Claimed);
        Ok(())
    }
}
