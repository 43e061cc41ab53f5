//! Delivery of probe results to the aggregator: batching, the bounded replay
//! buffer, and the gRPC stream with reconnects. Owns everything between a
//! finished probe run and an acknowledged batch; it must not run probes.

mod backoff;
mod batcher;
mod outbox;
mod stream;

use std::sync::atomic::{AtomicBool, AtomicU64};

pub use backoff::Backoff;
pub use batcher::{Batcher, encode};
pub use outbox::Outbox;
pub use stream::Shipper;

use crate::probe::Observation;

/// One finished probe run on its way to a batch: what the probe observed,
/// when, and the index it was declared under.
#[derive(Debug, Clone)]
pub struct ProbeRun {
    pub probe_index: u32,
    pub observed_at_unix_ms: i64,
    pub observation: Observation,
}

/// Delivery counters shared by the batcher, the stream and the admin server.
#[derive(Debug, Default)]
pub struct Counters {
    pub signals_produced: AtomicU64,
    pub signals_acked: AtomicU64,
    pub signals_dropped: AtomicU64,
    pub reconnects: AtomicU64,
    pub batches_rejected: AtomicU64,
    pub connected: AtomicBool,
}
