//! Who is up, per role (#23): while it runs, a node holds a `node` lease keyed `ROLE/NODE` for
//! each role it plays, renewed with its other leases. Nodes of a role share the work fairly by
//! it: each holds at most `ceil(work / live nodes of the role)` devices or shards, releasing the
//! surplus when a node joins and claiming more when one's lease lapses. `GET /api/v1/cluster`
//! lists the members.
//!
//! Readings where #23 is silent, and how: a node that cannot claim its own presence (its previous
//! run's lease has not expired yet) still counts once, as the live lease under its key does; a
//! node whose presence cannot be renewed (the catalog unreachable) keeps its last count.

use std::time::Duration;

use crate::catalog::PostgresCatalog;
use crate::catalog::postgres::lease::{Lease, LeaseError, LeaseKind};

/// One node's presence in one role.
#[derive(Debug)]
pub struct Presence {
    key: String,
    node: String,
    held: Option<Lease>,
    members: usize,
}

impl Presence {
    /// The presence of `node` in `role` (not yet claimed).
    pub fn new(role: &str, node: &str) -> Self {
        Self { key: format!("{role}/{node}"), node: node.to_owned(), held: None, members: 1 }
    }

    /// Claims or renews the presence for `ttl`; returns how many nodes of the role are live
    /// (at least this one).
    pub fn beat(&mut self, catalog: &PostgresCatalog, ttl: Duration) -> usize {
        if let Err(e) = self.try_beat(catalog, ttl) {
            tracing::warn!(presence = %self.key, error = %e, "cluster presence not renewed; retried");
        }
        self.members
    }

    fn try_beat(&mut self, catalog: &PostgresCatalog, ttl: Duration) -> Result<(), LeaseError> {
        self.held = match self.held.take() {
            Some(l) => match catalog.renew_lease(&l, ttl) {
                Ok(l) => Some(l),
                Err(LeaseError::Fenced { .. }) => None,
                Err(e) => {
                    self.held = Some(l);
                    return Err(e);
                }
            },
            None => None,
        };
        if self.held.is_none() {
            let mine = [self.key.clone()];
            self.held = catalog.claim_leases(LeaseKind::Node, &mine, &self.node, ttl, 1)?.into_iter().next();
        }
        let role = self.key.split('/').next().unwrap_or_default();
        let prefix = format!("{role}/");
        let live = catalog.live_leases(LeaseKind::Node)?.iter().filter(|l| l.key.starts_with(&prefix)).count();
        self.members = live.max(1);
        Ok(())
    }

    /// Gives the presence up (a clean shutdown): the others take this node's share at once.
    pub fn leave(&mut self, catalog: &PostgresCatalog) {
        if let Some(l) = self.held.take()
            && let Err(e) = catalog.release_lease(&l)
        {
            tracing::warn!(presence = %self.key, error = %e, "cluster presence not released; it expires");
        }
    }
}

/// A node's fair share of `work` items among `members` nodes, capped at `cap`.
pub fn fair_share(work: usize, members: usize, cap: usize) -> usize {
    work.div_ceil(members.max(1)).min(cap)
}

/// The live members of every role: `(role, node)` in order.
pub fn members(catalog: &PostgresCatalog) -> Result<Vec<(String, String)>, LeaseError> {
    Ok(catalog
        .live_leases(LeaseKind::Node)?
        .into_iter()
        .filter_map(|l| l.key.split_once('/').map(|(r, n)| (r.to_owned(), n.to_owned())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_work() {
        assert_eq!(fair_share(256, 3, usize::MAX), 86);
        assert_eq!(fair_share(256, 0, usize::MAX), 256);
        assert_eq!(fair_share(10, 4, 2), 2);
        assert_eq!(fair_share(0, 2, 5), 0);
    }
}
