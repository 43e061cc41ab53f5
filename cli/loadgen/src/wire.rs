//! The ingest contract as bytes: Hello, declarations and pre-encoded signal
//! batches, and a gRPC codec that sends them as they are.
//!
//! Owns encoding for the simulated agents. A batch's signals are encoded once
//! per template and only the header (sequence, base time) per send, so the
//! generator spends its CPU on the network, not on re-encoding identical
//! signals. The bytes are a valid `vigil.v1.StreamRequest`: the aggregator
//! cannot tell them from an agent's. It must not decide rates or timing.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use vigil_proto::codec::SendEncoded;
use vigil_proto::v1::{
    AgentRole, ErrorClass, Hello, Layer, Outcome, ProbeDeclaration, ProbeDeclarations, ProbeKind,
    Signal, SignalBatch, StreamRequest, StreamResponse, Vantage, stream_request,
};

/// `StreamRequest.batch` field number.
const BATCH_FIELD: u32 = 3;

/// Encodes `Hello` for a simulated agent.
pub fn hello(agent_id: &str, incarnation: u64, network: &str) -> Bytes {
    StreamRequest {
        message: Some(stream_request::Message::Hello(Hello {
            agent_id: agent_id.to_string(),
            incarnation,
            vantage: Some(Vantage {
                network: network.to_string(),
                role: AgentRole::Daemonset as i32,
                ..Vantage::default()
            }),
            agent_version: concat!("vigil-loadgen/", env!("CARGO_PKG_VERSION")).to_string(),
        })),
    }
    .encode_to_vec()
    .into()
}

/// Encodes declarations of `components.len()` probes, index = position.
pub fn declarations(components: &[String], kind: ProbeKind, interval_ms: u32) -> Bytes {
    let probes = components
        .iter()
        .enumerate()
        .map(|(i, component)| ProbeDeclaration {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            probe_id: format!("p{i}"),
            kind: kind as i32,
            target: format!("10.{}.{}.4:443", (i >> 8) & 0xff, i & 0xff),
            component: component.clone(),
            layer: Layer::WorkloadApplication as i32,
            labels: Default::default(),
            interval_ms,
        })
        .collect();
    StreamRequest {
        message: Some(stream_request::Message::Declarations(ProbeDeclarations {
            probes,
        })),
    }
    .encode_to_vec()
    .into()
}

/// The signals of one batch, encoded once and stamped per send.
#[derive(Debug, Clone)]
pub struct BatchTemplate {
    signals: Bytes,
    count: u32,
}

impl BatchTemplate {
    /// `count` successful signals for probe indexes `first, first+1, ...`
    /// modulo `probes`, observed evenly over the `spread_ms` before the
    /// batch's base time, with latencies spread over a few histogram bins.
    pub fn successes(first: u32, probes: u32, count: u32, spread_ms: u32) -> Self {
        let signals = (0..count).map(|j| {
            let back = i64::from(spread_ms) * i64::from(count - 1 - j) / i64::from(count.max(1));
            Signal {
                probe_index: (first + j) % probes.max(1),
                outcome: Outcome::Success as i32,
                error_class: ErrorClass::Unspecified as i32,
                latency_us: 300 + (first + j) % 7 * 450,
                time_offset_ms: -i32::try_from(back).unwrap_or(0),
                message: String::new(),
                detail: None,
            }
        });
        Self::from_signals(signals)
    }

    /// One failure of probe `index` (a timeout), observed at the base time.
    pub fn failure(index: u32) -> Self {
        Self::from_signals(std::iter::once(Signal {
            probe_index: index,
            outcome: Outcome::Failure as i32,
            error_class: ErrorClass::Timeout as i32,
            latency_us: 3_000_000,
            time_offset_ms: 0,
            message: "marker: timed out".to_string(),
            detail: None,
        }))
    }

    fn from_signals(signals: impl Iterator<Item = Signal>) -> Self {
        let list: Vec<Signal> = signals.collect();
        let count = u32::try_from(list.len()).unwrap_or(u32::MAX);
        // A batch with only its `signals` set encodes to exactly the bytes of
        // that repeated field.
        let signals = SignalBatch {
            signals: list,
            ..SignalBatch::default()
        }
        .encode_to_vec()
        .into();
        Self { signals, count }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The whole `StreamRequest` for batch `sequence` with base `base_ms`.
    pub fn stamp(&self, sequence: u64, base_ms: i64, buf: &mut BytesMut) -> Bytes {
        let header = SignalBatch {
            sequence,
            base_time_unix_ms: base_ms,
            ..SignalBatch::default()
        };
        let batch_len = header.encoded_len() + self.signals.len();
        buf.reserve(batch_len + 16);
        encode_key(BATCH_FIELD, WireType::LengthDelimited, buf);
        encode_varint(batch_len as u64, buf);
        // Encoding into a BytesMut cannot fail: it grows as needed.
        let _ = header.encode(buf);
        buf.put_slice(&self.signals);
        buf.split().freeze()
    }
}

/// Sends already-encoded `StreamRequest`s; decodes `StreamResponse`s.
pub type RawCodec = SendEncoded<StreamResponse>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_batch_decodes_as_the_contract_says() {
        let t = BatchTemplate::successes(3, 5, 4, 1000);
        let mut buf = BytesMut::new();
        let bytes = t.stamp(42, 1_700_000_000_000, &mut buf);
        let msg = StreamRequest::decode(bytes).unwrap();
        let Some(stream_request::Message::Batch(b)) = msg.message else {
            panic!("not a batch: {msg:?}");
        };
        assert_eq!(b.sequence, 42);
        assert_eq!(b.base_time_unix_ms, 1_700_000_000_000);
        let idx: Vec<u32> = b.signals.iter().map(|s| s.probe_index).collect();
        assert_eq!(idx, vec![3, 4, 0, 1]);
        assert!(b.signals.iter().all(|s| s.time_offset_ms <= 0));
        assert_eq!(b.signals.last().unwrap().time_offset_ms, 0);
    }
}
