//! Shared by the aggregator's suites: a real agent stream over gRPC that
//! feeds signals, the test model, and the one fast aggregator config (built
//! from `vigil-testkit`'s config text). Waiting with a deadline comes from
//! the kit: pass it [`DEADLINE`].
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use vigil_aggregator::AggregatorConfig;
use vigil_model::Model;
use vigil_proto::v1::ingest_service_client::IngestServiceClient;
use vigil_proto::v1::{
    ErrorClass, Hello, Layer, Outcome, ProbeDeclaration, ProbeDeclarations, ProbeKind, Signal,
    SignalBatch, StreamRequest, StreamResponse, Vantage, stream_request, stream_response,
};
use vigil_testkit::config::{Evaluation, aggregator_yaml};
pub use vigil_testkit::now_ms;

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
    tx: mpsc::Sender<StreamRequest>,
    rx: tonic::Streaming<StreamResponse>,
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
        let mut client = IngestServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("ingest reachable");
        let (tx, rx) = mpsc::channel(16);
        let rx = client
            .stream(ReceiverStream::new(rx))
            .await
            .expect("stream opens")
            .into_inner();
        let mut f = Self {
            tx,
            rx,
            sequence: 0,
            dropped: 0,
        };
        f.send(StreamRequest {
            message: Some(stream_request::Message::Hello(Hello {
                agent_id: agent.into(),
                incarnation: 1,
                vantage: Some(Vantage {
                    network: network.into(),
                    ..Default::default()
                }),
                agent_version: "test".into(),
            })),
        })
        .await;
        match f.reply().await {
            stream_response::Message::Welcome(_) => {}
            other => panic!("expected Welcome, got {other:?}"),
        }
        f.send(StreamRequest {
            message: Some(stream_request::Message::Declarations(ProbeDeclarations {
                probes: vec![ProbeDeclaration {
                    index: 0,
                    probe_id: format!("{component}-probe"),
                    kind: kind as i32,
                    target: "10.0.0.4:53".into(),
                    component: component.into(),
                    layer: layer as i32,
                    labels: Default::default(),
                    interval_ms: 100,
                }],
            })),
        })
        .await;
        f
    }

    async fn send(&mut self, m: StreamRequest) {
        self.tx.send(m).await.expect("stream open");
    }

    async fn reply(&mut self) -> stream_response::Message {
        match tokio::time::timeout(DEADLINE, self.rx.next())
            .await
            .expect("reply in time")
        {
            Some(Ok(r)) => r.message.expect("reply has a message"),
            other => panic!("stream failed: {other:?}"),
        }
    }

    /// Sends `ok` successes and `failed` failures stamped now; waits for the Ack.
    pub async fn batch(&mut self, ok: u32, failed: u32) {
        self.sequence += 1;
        let base = now_ms();
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
        self.send(StreamRequest {
            message: Some(stream_request::Message::Batch(SignalBatch {
                sequence,
                base_time_unix_ms: base,
                signals,
                dropped_signals_total: self.dropped,
            })),
        })
        .await;
        match self.reply().await {
            stream_response::Message::Ack(a) => assert_eq!(a.sequence, sequence),
            other => panic!("expected Ack {sequence}, got {other:?}"),
        }
    }
}
