//! Cluster mode (#23), the parts that join the storage seams to the catalog: `batch` (readings
//! as logged and as segments, named by series keys, not node-local IDs) and `ingest` (a shard
//! owner's pass: log → segment on object storage → commit under the lease → acknowledge) and
//! `node` (an ingest node's loop: claim a share of the shards, renew, pass, drop what is lost).
//! Not yet started by the binary: the roles, their configuration and the serve side are to come.

pub mod batch;
pub mod ingest;
pub mod node;
