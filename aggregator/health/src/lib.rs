//! vigil-health: the pure health core — series and windows per (agent,
//! probe), evaluation and roll-up, immutable snapshots, fault attribution,
//! and the two threads that run them.
//!
//! Data flows one way through it: ingest writes the [`store`], the
//! evaluation thread ([`tick`]) reads it into an immutable
//! [`snapshot::Snapshot`], attribution folds its faults into the next one,
//! and outputs only ever read snapshots. It must not open a socket, parse a
//! wire message or know about any output: those live in `vigil-aggregator`,
//! `vigil-alert` and `vigil-export`.
#![forbid(unsafe_code)]

pub mod attribution;
pub mod clock;
pub mod evaluate;
pub mod snapshot;
pub mod store;
pub mod tick;

pub use snapshot::Snapshot;
