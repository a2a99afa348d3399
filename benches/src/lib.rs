//! colometer's benchmarks. Each bench binary runs a real peer on the same data in the same run and
//! prints the ratio; BENCHMARKS.md records the figures and the command. None exists yet: the first
//! arrives with the store (ingest against InfluxDB).
