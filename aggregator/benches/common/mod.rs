//! Shared fixtures for the benchmarks: a generated model of a chosen size and
//! a store filled through the real ingest path.
//!
//! Owns fixture building only; each bench file owns what it measures.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use vigil_aggregator::config::IngestConfig;
use vigil_aggregator::ingest::LocalStream;
use vigil_health::store::Store;
use vigil_model::Model;
use vigil_proto::v1::{
    ErrorClass, Hello, Layer, Outcome, ProbeDeclaration, ProbeDeclarations, ProbeKind, Signal,
    SignalBatch, StreamRequest, Vantage, stream_request,
};

pub const GROUP: usize = 100;
/// Leaves between two agents' first probes, so fixtures of different
/// probe counts bind alike.
const STRIDE: usize = 10;

/// A model with `leaves` leaves `cNNNNN` under groups of 100: about
/// `leaves * 1.01 + 2` nodes.
pub fn model(leaves: usize) -> Arc<Model> {
    let mut y = String::from("nodes:\n  - id: fleet\n    children: [");
    let groups = leaves.div_ceil(GROUP);
    let names: Vec<String> = (0..groups).map(|g| format!("g{g:04}")).collect();
    y.push_str(&names.join(", "));
    y.push_str("]\n");
    for g in 0..groups {
        let ids: Vec<String> = (g * GROUP..((g + 1) * GROUP).min(leaves))
            .map(|i| format!("c{i:05}"))
            .collect();
        let _ = writeln!(
            y,
            "  - id: g{g:04}\n    layer: workload_application\n    children: [{}]",
            ids.join(", ")
        );
        for id in ids {
            let _ = writeln!(
                y,
                "  - id: {id}\n    layer: workload_application\n    select: {{ component: {id} }}"
            );
        }
    }
    Arc::new(Model::from_yaml(&y, "bench-model.yaml").expect("generated model is valid"))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn encode(message: stream_request::Message) -> Vec<u8> {
    StreamRequest {
        message: Some(message),
    }
    .encode_to_vec()
}

/// An identified stream for agent `agent` with `probes` probes spread over
/// `leaves` leaves.
pub fn stream(store: &Arc<Store>, agent: usize, probes: u32, leaves: usize) -> LocalStream {
    let mut s = LocalStream::new(Arc::clone(store), IngestConfig::default());
    s.handle_encoded(&encode(stream_request::Message::Hello(Hello {
        agent_id: format!("agent-{agent}"),
        incarnation: 1,
        vantage: Some(Vantage {
            network: format!("spoke-{}", agent % 4),
            ..Vantage::default()
        }),
        agent_version: "bench".into(),
    })))
    .expect("hello accepted");
    let probes = (0..probes)
        .map(|p| ProbeDeclaration {
            index: p,
            probe_id: format!("p{p}"),
            kind: ProbeKind::Tcp as i32,
            target: format!("10.0.{}.4:443", p % 250),
            component: format!("c{:05}", (agent * STRIDE + p as usize) % leaves),
            layer: Layer::WorkloadApplication as i32,
            labels: Default::default(),
            interval_ms: 1000,
        })
        .collect();
    s.handle_encoded(&encode(stream_request::Message::Declarations(
        ProbeDeclarations { probes },
    )))
    .expect("declarations accepted");
    s
}

/// `count` signals over probe indexes `0..probes`, one failure in ten.
pub fn signals(count: u32, probes: u32) -> Vec<Signal> {
    (0..count)
        .map(|j| {
            let failed = j % 10 == 9;
            Signal {
                probe_index: j % probes,
                outcome: if failed {
                    Outcome::Failure
                } else {
                    Outcome::Success
                } as i32,
                error_class: if failed {
                    ErrorClass::Timeout
                } else {
                    ErrorClass::Unspecified
                } as i32,
                latency_us: 300 + j % 7 * 450,
                time_offset_ms: -((count - 1 - j) as i32) * 10,
                message: String::new(),
                detail: None,
            }
        })
        .collect()
}

/// Batch `sequence` as an encoded `StreamRequest`.
pub fn batch(sequence: u64, signals: &[Signal]) -> Vec<u8> {
    encode(stream_request::Message::Batch(SignalBatch {
        sequence,
        base_time_unix_ms: now_ms(),
        signals: signals.to_vec(),
        dropped_signals_total: 0,
    }))
}

/// A store over `model(leaves)` with `agents` agents of `probes` probes,
/// each having applied `batches` batches of one signal per probe.
pub fn filled_store(leaves: usize, agents: usize, probes: u32, batches: u64) -> Arc<Store> {
    let store = Arc::new(Store::new(model(leaves), Duration::from_secs(60), 8));
    let sigs = signals(probes, probes);
    for a in 0..agents {
        let mut s = stream(&store, a, probes, leaves);
        for seq in 1..=batches {
            s.handle_encoded(&batch(seq, &sigs)).expect("batch applied");
        }
    }
    store
}
