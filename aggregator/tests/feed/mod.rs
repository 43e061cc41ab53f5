//! Shared by the observability suites: a real agent stream over gRPC that
//! feeds signals, and an `eventually` helper that waits on a condition with
//! a deadline instead of sleeping for luck.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Loopback ports, fast evaluation, hysteresis 1.
pub fn fast_config() -> AggregatorConfig {
    let mut c = AggregatorConfig::default();
    c.listen.grpc = "127.0.0.1:0".parse().unwrap();
    c.listen.http = "127.0.0.1:0".parse().unwrap();
    c.evaluation.interval = Duration::from_millis(50);
    c.evaluation.window = Duration::from_secs(5);
    c.evaluation.staleness = Duration::from_secs(3);
    c.evaluation.hysteresis = 1;
    c
}

pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut last = String::from("never checked");
    while start.elapsed() < DEADLINE {
        match check().await {
            Ok(v) => return v,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}; last seen: {last}");
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
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
