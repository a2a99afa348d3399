//! [`IdempotencyKeys`] on PostgreSQL: a key is claimed by inserting its row (`ON CONFLICT DO
//! NOTHING`); the row's primary key decides between two processes claiming one key at once.

use super::{PgError, PostgresCatalog};
use crate::catalog::CatalogError;
use crate::catalog::idempotency::{Claim, IdempotencyKeys, KEEP_NS, StoredKey, StoredResponse};
use crate::time::Timestamp;

impl IdempotencyKeys for PostgresCatalog {
    fn claim_idempotency_key(
        &mut self,
        scope: &[u8; 32],
        key: &str,
        fingerprint: &[u8; 32],
        now: Timestamp,
    ) -> Result<Claim, CatalogError> {
        let (scope, fp): (&[u8], &[u8]) = (&scope[..], &fingerprint[..]);
        let client = self.client()?;
        let claim = self.rt.block_on(async {
            let expired = now.as_nanos().saturating_sub(KEEP_NS);
            client.execute("DELETE FROM idempotency WHERE started_ns < $1", &[&expired]).await?;
            let inserted = client
                .execute(
                    "INSERT INTO idempotency (scope, key, fingerprint, started_ns) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (scope, key) DO NOTHING",
                    &[&scope, &key, &fp, &now.as_nanos()],
                )
                .await?;
            if inserted == 1 {
                return Ok::<_, tokio_postgres::Error>(Claim::Claimed);
            }
            let row = client
                .query_opt(
                    "SELECT fingerprint, status, content_type, body FROM idempotency WHERE scope = $1 AND key = $2",
                    &[&scope, &key],
                )
                .await?;
            Ok(match row {
                // Released by its claimer between the two statements (its request failed on our
                // side): answered as in progress; the client's retry claims it.
                None => Claim::InProgress,
                Some(r) => StoredKey::from_row(
                    r.try_get(0)?,
                    r.try_get::<_, Option<i32>>(1)?.map(i64::from),
                    r.try_get(2)?,
                    r.try_get(3)?,
                )
                .claim(fingerprint),
            })
        });
        Ok(claim.map_err(PgError::from)?)
    }

    fn complete_idempotency_key(
        &mut self,
        scope: &[u8; 32],
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), CatalogError> {
        let client = self.client()?;
        let (scope, status) = (&scope[..], i32::from(response.status));
        self.rt
            .block_on(client.execute(
                "UPDATE idempotency SET status = $3, content_type = $4, body = $5 WHERE scope = $1 AND key = $2",
                &[&scope, &key, &status, &response.content_type, &response.body],
            ))
            .map_err(PgError::from)?;
        Ok(())
    }

    fn release_idempotency_key(&mut self, scope: &[u8; 32], key: &str) -> Result<(), CatalogError> {
        let client = self.client()?;
        let scope: &[u8] = &scope[..];
        self.rt
            .block_on(
                client.execute(
                    "DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND status IS NULL",
                    &[&scope, &key],
                ),
            )
            .map_err(PgError::from)?;
        Ok(())
    }
}
