//! Cluster mode (#23), the parts that join the storage seams to the catalog: `batch` (readings
//! as logged and as segments, named by series keys, not node-local IDs), `publish` (writers:
//! readings split by shard and appended to the log), `ingest` (a shard owner's pass: log →
//! segment on object storage → commit under the lease → acknowledge), `node` (an ingest node's
//! loop: claim a share of the shards, renew, pass, drop what is lost), `membership` (who is up
//! per role, for fair shares), `gc` (orphan segments) and `follow` (a serve node's local copy of the committed segments). The binary wires them by role (`api::cluster`).

pub mod batch;
pub mod follow;
pub mod gc;
pub mod ingest;
pub mod membership;
pub mod node;
pub mod publish;
