//! Ingest over real gRPC on 127.0.0.1:0: the happy path reaches the tree, and
//! each bad input gets its exact status code and `vigil-rejected-sequence`
//! metadata while a concurrent healthy stream keeps working. Also the query
//! surfaces (gRPC, HTTP, SSE), health/readiness, and restart on the same port.

mod feed;

use std::net::SocketAddr;
use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::Code;
use vigil_aggregator::ingest::RejectReason;
use vigil_aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use vigil_model::Model;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{
    ErrorClass, GetNodeRequest, HealthState, Layer, Outcome, ProbeDeclaration, ProbeKind, Signal,
    StreamRequest, WatchChangesRequest, stream_response,
};
use vigil_testkit::config::Evaluation;
use vigil_testkit::ingest::{self, IngestStream};
use vigil_testkit::query::{node_state, wait_state};
use vigil_testkit::{eventually, now_ms};

const DEADLINE: Duration = Duration::from_secs(15);

const MODEL: &str = r#"
nodes:
  - id: root
    children: [platform]
  - id: platform
    layer: platform_hub
    children: [hub-dns, hub-service]
  - id: hub-dns
    layer: platform_hub
    select: { kind: dns, component: hub-dns }
  - id: hub-service
    layer: platform_hub
    select: { kind: tcp, component: hub-service }
"#;

/// The suites' fast config, but stale after 2 s and turning a state only
/// after two evaluations (the hysteresis these tests count on).
fn fast_config() -> AggregatorConfig {
    feed::config(&Evaluation {
        staleness: Some(Duration::from_secs(2)),
        hysteresis: Some(2),
        ..Evaluation::FAST
    })
}

async fn start(config: AggregatorConfig) -> AggregatorHandle {
    Aggregator::start(config, Model::from_yaml(MODEL, "test.yaml").unwrap())
        .await
        .expect("aggregator starts")
}

/// This suite's agent: incarnation 7.
fn hello(agent: &str, network: &str) -> StreamRequest {
    ingest::hello(agent, network, 7)
}

/// One probe of `component` against the hub resolver, every 100 ms.
fn declare(component: &str, kind: ProbeKind) -> StreamRequest {
    ingest::declare(vec![ProbeDeclaration {
        index: 0,
        probe_id: format!("{component}-probe"),
        kind: kind as i32,
        target: "10.0.0.4:53".into(),
        component: component.into(),
        layer: Layer::PlatformHub as i32,
        labels: Default::default(),
        interval_ms: 100,
    }])
}

/// A batch from an agent that has dropped 3 signals so far.
fn batch(sequence: u64, base: i64, signals: Vec<Signal>) -> StreamRequest {
    ingest::batch(sequence, base, signals, 3)
}

fn ok() -> Signal {
    Signal {
        probe_index: 0,
        outcome: Outcome::Success as i32,
        latency_us: 800,
        ..Default::default()
    }
}

fn failed() -> Signal {
    Signal {
        outcome: Outcome::Failure as i32,
        error_class: ErrorClass::DnsServfail as i32,
        message: "SERVFAIL from 10.0.0.4".into(),
        ..ok()
    }
}

/// An identified agent's stream: the kit's stream, welcomed and declared.
struct AgentStream(IngestStream);

impl AgentStream {
    async fn identify(
        addr: SocketAddr,
        agent: &str,
        network: &str,
        component: &str,
        kind: ProbeKind,
    ) -> Self {
        let mut s = IngestStream::open(addr).await;
        s.send(hello(agent, network)).await;
        match s.reply(DEADLINE).await {
            Ok(stream_response::Message::Welcome(w)) => {
                assert_eq!(w.aggregator_id, "vigil-aggregator")
            }
            other => panic!("expected Welcome, got {other:?}"),
        }
        s.send(declare(component, kind)).await;
        Self(s)
    }

    async fn acked(&mut self, m: StreamRequest, sequence: u64) {
        self.0.send(m).await;
        match self.0.reply(DEADLINE).await {
            Ok(stream_response::Message::Ack(a)) => assert_eq!(a.sequence, sequence),
            other => panic!("expected Ack {sequence}, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_declare_batch_is_acked_and_reaches_the_tree() {
    let agg = start(fast_config()).await;
    let addr = agg.grpc_addr();
    let mut s = AgentStream::identify(addr, "agent-a", "spoke-a", "hub-dns", ProbeKind::Dns).await;
    s.acked(batch(1, now_ms(), vec![ok(); 5]), 1).await;
    wait_state(addr, "hub-dns", HealthState::Healthy, DEADLINE).await;
    assert_eq!(
        node_state(addr, "hub-service").await.unwrap(),
        HealthState::Unknown,
        "no data is Unknown"
    );

    // Failures turn it unhealthy (after hysteresis), with evidence.
    let mut seq = 1;
    eventually("hub-dns to turn unhealthy", DEADLINE, async || {
        seq += 1;
        s.acked(batch(seq, now_ms(), vec![failed(); 20]), seq).await;
        match node_state(addr, "hub-dns").await.unwrap() {
            HealthState::Unhealthy => Ok(()),
            other => Err(format!("hub-dns is {other:?}")),
        }
    })
    .await;
    let mut q = QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let node = q
        .get_node(GetNodeRequest {
            id: "hub-dns".into(),
            recent_signals: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(node.path, ["root", "platform", "hub-dns"]);
    assert_eq!(node.recent_signals.len(), 5);
    let newest = &node.recent_signals[0];
    assert_eq!(newest.error_class(), ErrorClass::DnsServfail);
    assert_eq!(newest.agent_id, "agent-a");
    assert_eq!(newest.network, "spoke-a");
    assert_eq!(node.vantages.len(), 1);
    assert!(node.vantages[0].agent_connected);
    let missing = q
        .get_node(GetNodeRequest {
            id: "nope".into(),
            recent_signals: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Reconnecting with the same incarnation is told what was applied.
    drop(s);
    let mut again = IngestStream::open(addr).await;
    again.send(hello("agent-a", "spoke-a")).await;
    match again.reply(DEADLINE).await {
        Ok(stream_response::Message::Welcome(w)) => assert_eq!(w.last_applied_sequence, seq),
        other => panic!("expected Welcome, got {other:?}"),
    }
    let stats = agg.ingest_stats();
    assert!(
        stats.batches_applied >= 2 && stats.signals_applied >= 25,
        "{stats:?}"
    );
    agg.shutdown().await;
}

fn rejected_sequence(status: &tonic::Status) -> Option<u64> {
    status
        .metadata()
        .get(vigil_proto::REJECTED_SEQUENCE_KEY)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_gets_its_code_and_metadata_and_spares_other_streams() {
    let mut config = fast_config();
    config.ingest.max_batch_signals = 100;
    config.ingest.max_message_bytes = 64 * 1024;
    let agg = start(config).await;
    let addr = agg.grpc_addr();

    // A healthy agent streams throughout, on its own stream.
    let mut good = AgentStream::identify(addr, "good", "hub", "hub-service", ProbeKind::Tcp).await;
    let mut seq = 0;
    seq += 1;
    good.acked(batch(seq, now_ms(), vec![ok(); 3]), seq).await;

    let d = || declare("hub-dns", ProbeKind::Dns);
    let h = |n: &str| hello(n, "spoke-b");
    let cases: Vec<(&str, Vec<StreamRequest>, Code, u64)> = vec![
        (
            "batch before hello",
            vec![batch(4, now_ms(), vec![ok()])],
            Code::FailedPrecondition,
            4,
        ),
        (
            "declarations before hello",
            vec![d()],
            Code::FailedPrecondition,
            0,
        ),
        (
            "unknown probe index",
            vec![
                h("b1"),
                d(),
                batch(
                    1,
                    now_ms(),
                    vec![Signal {
                        probe_index: 9,
                        ..ok()
                    }],
                ),
            ],
            Code::InvalidArgument,
            1,
        ),
        (
            "unknown outcome value",
            vec![
                h("b2"),
                d(),
                batch(
                    2,
                    now_ms(),
                    vec![Signal {
                        outcome: 42,
                        ..ok()
                    }],
                ),
            ],
            Code::InvalidArgument,
            2,
        ),
        (
            "failure without error class",
            vec![
                h("b3"),
                d(),
                batch(
                    1,
                    now_ms(),
                    vec![Signal {
                        error_class: 0,
                        ..failed()
                    }],
                ),
            ],
            Code::InvalidArgument,
            1,
        ),
        (
            "too many signals",
            vec![h("b4"), d(), batch(1, now_ms(), vec![ok(); 101])],
            Code::ResourceExhausted,
            1,
        ),
        (
            "message over max_message_bytes",
            vec![
                h("b5"),
                d(),
                batch(
                    1,
                    now_ms(),
                    vec![Signal {
                        message: "x".repeat(70_000),
                        ..failed()
                    }],
                ),
            ],
            Code::ResourceExhausted,
            0,
        ),
        (
            "future timestamp",
            vec![h("b6"), d(), batch(1, now_ms() + 3_600_000, vec![ok()])],
            Code::InvalidArgument,
            1,
        ),
        (
            "ancient timestamp",
            vec![h("b7"), d(), batch(1, now_ms() - 7 * 3_600_000, vec![ok()])],
            Code::InvalidArgument,
            1,
        ),
        (
            "duplicate sequence",
            vec![
                h("b8"),
                d(),
                batch(5, now_ms(), vec![ok()]),
                batch(5, now_ms(), vec![ok()]),
            ],
            Code::AlreadyExists,
            5,
        ),
        (
            "unspecified probe kind",
            vec![h("b9"), declare("hub-dns", ProbeKind::Unspecified)],
            Code::InvalidArgument,
            0,
        ),
    ];
    for (what, messages, code, sequence) in cases {
        let status = ingest::rejection(addr, messages, DEADLINE).await;
        assert_eq!(status.code(), code, "{what}: {status:?}");
        assert!(!status.message().is_empty(), "{what}: says what was wrong");
        assert_eq!(
            rejected_sequence(&status),
            Some(sequence),
            "{what}: metadata {status:?}"
        );
        // The healthy stream is untouched after every rejection.
        seq += 1;
        good.acked(batch(seq, now_ms(), vec![ok(); 3]), seq).await;
    }
    let stats = agg.ingest_stats();
    assert_eq!(
        stats.rejected.get(RejectReason::NotIdentified),
        2,
        "{stats:?}"
    );
    assert_eq!(
        stats.rejected.get(RejectReason::UnknownProbe),
        1,
        "{stats:?}"
    );
    assert_eq!(stats.rejected.get(RejectReason::Malformed), 3, "{stats:?}");
    assert_eq!(stats.rejected.get(RejectReason::TooLarge), 2, "{stats:?}");
    assert_eq!(stats.rejected.get(RejectReason::BadTime), 2, "{stats:?}");
    assert_eq!(
        stats.rejected.get(RejectReason::DuplicateSequence),
        1,
        "{stats:?}"
    );
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.rejected_total(), 11);
    assert!(
        stats.streams_open >= 1,
        "the good stream is open: {stats:?}"
    );
    wait_state(addr, "hub-service", HealthState::Healthy, DEADLINE).await;
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_health_readiness_tree_node_and_changes() {
    let agg = start(fast_config()).await;
    let http = format!("http://{}", agg.http_addr());
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{http}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{http}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The change stream starts with a full snapshot.
    let mut sse = client
        .get(format!("{http}/api/v1/changes"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        let chunk = tokio::time::timeout(DEADLINE, sse.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.starts_with("event: snapshot"), "{seen}");
    assert!(
        seen.contains("\"snapshot\":true") && seen.contains("\"id\":\"hub-dns\""),
        "{seen}"
    );

    let mut s =
        AgentStream::identify(agg.grpc_addr(), "a", "spoke-a", "hub-dns", ProbeKind::Dns).await;
    s.acked(batch(1, now_ms(), vec![failed(); 4]), 1).await;
    let tree: serde_json::Value = eventually("hub-dns unhealthy over HTTP", DEADLINE, || async {
        let t: serde_json::Value = client
            .get(format!("{http}/api/v1/tree"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let dns = t["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == "hub-dns")
            .cloned();
        match dns {
            Some(n) if n["state"] == "unhealthy" => Ok(t),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(tree["nodes"][0]["id"], "root", "root first");
    let dns = tree["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "hub-dns")
        .unwrap();
    assert_eq!(dns["layer"], "platform_hub");
    assert_eq!(dns["owner"], "platform");
    assert_eq!(tree["layers"][0]["name"], "platform");

    let node: serde_json::Value = client
        .get(format!("{http}/api/v1/nodes/hub-dns?recent_signals=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(node["recent_signals"].as_array().unwrap().len(), 2);
    assert_eq!(node["recent_signals"][0]["error_class"], "dns_servfail");
    assert_eq!(node["vantages"][0]["network"], "spoke-a");
    assert_eq!(node["vantages"][0]["connected"], true);
    let missing = client
        .get(format!("{http}/api/v1/nodes/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The SSE stream then reports the change.
    while !seen.contains("\"state\":\"unhealthy\"") {
        let chunk = tokio::time::timeout(DEADLINE, sse.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: changes"), "{seen}");
    drop(sse);
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_changes_snapshot_first_then_diffs() {
    let agg = start(fast_config()).await;
    let addr = agg.grpc_addr();
    let mut q = QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut changes = q
        .watch_changes(WatchChangesRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = changes.next().await.unwrap().unwrap();
    assert!(first.snapshot);
    assert_eq!(
        first.changes.len(),
        5,
        "every node incl. unmodelled: {first:?}"
    );
    assert_eq!(first.changes[0].id, "root");

    let mut s = AgentStream::identify(addr, "a", "hub", "hub-service", ProbeKind::Tcp).await;
    s.acked(batch(1, now_ms(), vec![ok(); 4]), 1).await;
    let healthy = tokio::time::timeout(DEADLINE, async {
        loop {
            let msg = changes.next().await.unwrap().unwrap();
            assert!(!msg.snapshot);
            if let Some(c) = msg
                .changes
                .iter()
                .find(|c| c.id == "hub-service" && c.state() == HealthState::Healthy)
            {
                return c.clone();
            }
        }
    })
    .await
    .expect("a diff reports hub-service healthy");
    assert_eq!(healthy.previous_state(), HealthState::Unknown);

    // The snapshot subscription used by outputs sees the same.
    let snap = agg.subscribe().borrow().clone();
    assert!(snap.generation > 0);
    assert_eq!(
        snap.find("hub-service").unwrap().1.state,
        HealthState::Healthy
    );
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_reports_serving_and_restart_reuses_the_port() {
    let agg = start(fast_config()).await;
    let addr = agg.grpc_addr();
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    for service in ["", "vigil.v1.IngestService", "vigil.v1.QueryService"] {
        let resp = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            resp.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service:?}"
        );
    }
    // An open agent stream must not keep the old server alive.
    let _open = AgentStream::identify(addr, "a", "hub", "hub-dns", ProbeKind::Dns).await;
    agg.shutdown().await;

    let mut config = fast_config();
    config.listen.grpc = addr;
    let again = start(config).await;
    assert_eq!(again.grpc_addr(), addr);
    eventually("the restarted server answers", DEADLINE, || async {
        node_state(addr, "root").await.map(|_| ())
    })
    .await;

    // Binding a taken port is a clear start error.
    let mut clash = fast_config();
    clash.listen.grpc = addr;
    let err = Aggregator::start(clash, Model::from_yaml(MODEL, "t.yaml").unwrap())
        .await
        .err()
        .expect("port in use");
    assert!(err.to_string().contains("listen.grpc"), "{err}");
    again.shutdown().await;
}
