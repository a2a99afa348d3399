//! Cluster mode (#23), the parts that join the storage seams to the catalog: `batch` (readings
//! as logged and as segments, named by series keys, not node-local IDs) and `ingest` (a shard
//! owner's pass: log → segment on object storage → commit under the lease → acknowledge). Not
//! yet run by any node: the roles, their configuration and the serve side are still to come.

pub mod batch;
pub mod ingest;
