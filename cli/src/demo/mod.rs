//! `vigil demo`: the embedded default a newcomer runs with one command, without
//! root and without installing anything.
//!
//! Today this module owns the local [`targets`]: real servers on loopback (a
//! workload HTTP service, TCP services standing in for hub addresses, an
//! authoritative DNS server with a private zone, an echo service that reports
//! the caller's source IP, a gRPC health server) whose faults can be switched
//! at runtime. It must not fake probe results: faults are injected into these
//! servers, and the agents observe them over real sockets.
//!
//! The plan for the demo itself, once the aggregator and agent libraries expose
//! `vigil_aggregator::Aggregator::start(config, model)` and
//! `vigil_agent::Agent::start(config)`:
//! 1. start the targets on `127.0.0.1:0`: the hub DNS server serving
//!    `privatelink.vaultcore.azure.net` with private addresses, TCP services
//!    for the hub firewall and shared services, an echo endpoint for the
//!    internet, and the workload's HTTP service;
//! 2. start an in-process aggregator with a model of a hub and two spokes
//!    (platform and workload layers) and agents whose vantages are `hub`,
//!    `spoke-a` and `spoke-b`, their probe configs pointing at the targets;
//! 3. print where to look: the HTTP API, `vigil tree`, `vigil node ID`,
//!    `vigil watch` against the aggregator's address;
//! 4. read `inject FAULT` / `restore FAULT` commands (hub DNS down, private
//!    record changed or deleted, workload 5xx/slow/down, hub service down) and
//!    apply them through the targets' switches;
//! 5. stop everything cleanly on Ctrl-C.

pub mod targets;
