//! Shared by the aggregator's suites: a real agent stream over gRPC that
//! feeds signals, the test model, and the one fast aggregator config (built
//! from `vigil-testkit`'s config text). Waiting with a deadline comes from
//! the kit: pass it [`DEADLINE`].
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use vigil_aggregator::AggregatorConfig;
use vigil_model::Model;
use vigil_proto::v1::{
    ErrorClass, Layer, Outcome, ProbeDeclaration, ProbeKind, Signal, stream_response,
};
use vigil_testkit::config::{Evaluation, aggregator_yaml};
use vigil_testkit::ingest::{self, IngestStream};
use vigil_testkit::now_ms;

pub const DEADLINE: Duration = Duration::from_secs(20);

pub const MODEL: &str = r#"
nodes:
  - id: root
    children: [platform, workload]
  - id: platform
    layer: platform_hub
    children: [hub-dns]
  - id: hub-dns
    name: Hub DNS resolver
    layer: platform_hub
    select: { kind: dns, component: hub-dns }
  - id: workload
    layer: workload_application
    children: [api-a]
  - id: api-a
    layer: workload_application
    select: { component: api, network: spoke-a }
"#;

pub fn model() -> Model {
    Model::from_yaml(MODEL, "observe-test.yaml").expect("test model is valid")
}

/// Loopback ports and `evaluation` timing.
pub fn config(evaluation: &Evaluation) -> AggregatorConfig {
    AggregatorConfig::from_yaml(&aggregator_yaml(evaluation), "fast-test.yaml")
        .expect("the test config is valid")
}

/// Loopback ports, fast evaluation ([`Evaluation::FAST`]), hysteresis 1.
pub fn fast_config() -> AggregatorConfig {
    config(&Evaluation::FAST)
}

/// One agent with one declared probe.
pub struct Feeder {
    stream: IngestStream,
    sequence: u64,
    pub dropped: u64,
}

impl Feeder {
    /// An agent (`agent-a` in `spoke-a`) streaming hub DNS probes: the
    /// feeder most tests need.
    pub async fn hub_dns(addr: SocketAddr) -> Self {
        Self::connect(
            addr,
            "agent-a",
            "spoke-a",
            "hub-dns",
            ProbeKind::Dns,
            Layer::PlatformHub,
        )
        .await
    }

    pub async fn connect(
        addr: SocketAddr,
        agent: &str,
        network: &str,
        component: &str,
        kind: ProbeKind,
        layer: Layer,
    ) -> Self {
        let mut f = Self {
            stream: IngestStream::open(addr).await,
            sequence: 0,
            dropped: 0,
        };
        f.stream.send(ingest::hello(agent, network, 1)).await;
        match f.reply().await {
            stream_response::Message::Welcome(_) => {}
            other => panic!("expected Welcome, got {other:?}"),
        }
        f.stream
            .send(ingest::declare(vec![ProbeDeclaration {
                index: 0,
                probe_id: format!("{component}-probe"),
                kind: kind as i32,
                target: "10.0.0.4:53".into(),
                component: component.into(),
                layer: layer as i32,
                labels: Default::default(),
                interval_ms: 100,
            }]))
            .await;
        f
    }

    async fn reply(&mut self) -> stream_response::Message {
        match self.stream.reply(DEADLINE).await {
            Ok(message) => message,
            Err(status) => panic!("stream failed: {status:?}"),
        }
    }

    /// Sends `ok` successes and `failed` failures stamped now; waits for the Ack.
    pub async fn batch(&mut self, ok: u32, failed: u32) {
        self.sequence += 1;
        let mut signals = Vec::new();
        for _ in 0..ok {
            signals.push(Signal {
                probe_index: 0,
                outcome: Outcome::Success as i32,
                latency_us: 800,
                ..Default::default()
            });
        }
        for _ in 0..failed {
            signals.push(Signal {
                probe_index: 0,
                outcome: Outcome::Failure as i32,
                error_class: ErrorClass::DnsServfail as i32,
                message: "SERVFAIL from 10.0.0.4".into(),
                ..Default::default()
            });
        }
        let sequence = self.sequence;
        self.stream
            .send(ingest::batch(sequence, now_ms(), signals, self.dropped))
            .await;
        match self.reply().await {
            stream_response::Message::Ack(a) => assert_eq!(a.sequence, sequence),
            other => panic!("expected Ack {sequence}, got {other:?}"),
        }
    }
}
