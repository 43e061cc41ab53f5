//! OTLP export against real receivers started here: a tonic server
//! implementing the OpenTelemetry collector services (gRPC), and an HTTP
//! server decoding `/v1/metrics` protobuf bodies. The data points must arrive
//! with the right names, values, attributes and resource.

mod feed;

use std::time::Duration;

use feed::{DEADLINE, Feeder, fast_config, model};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use vigil_aggregator::Aggregator;
use vigil_export::{OtlpConfig, OtlpProtocol};
use vigil_proto::v1::{Layer, ProbeKind};
use vigil_testkit::eventually;
use vigil_testkit::net::closed_port;
use vigil_testkit::otlp::{attr, grpc_receiver, http_receiver};

fn otlp(endpoint: String, protocol: OtlpProtocol) -> OtlpConfig {
    OtlpConfig {
        enabled: Some(true),
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        interval: Some(Duration::from_millis(200)),
        timeout: Some(Duration::from_secs(2)),
        headers: [("x-api-key".to_string(), "k-123".to_string())].into(),
        traces: Some(false),
        resource: [("deployment.environment".to_string(), "test".to_string())].into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_carries_node_ingest_and_fault_points() {
    let (addr, received, stop) = grpc_receiver().await;
    let mut config = fast_config();
    config.id = "agg-under-test".into();
    config.export.otlp = Some(otlp(format!("http://{addr}"), OtlpProtocol::Grpc));
    let agg = Aggregator::start(config, model()).await.unwrap();
    let mut dns = Feeder::hub_dns(agg.grpc_addr()).await;
    dns.batch(10, 0).await;

    let score = eventually("hub-dns score over OTLP", DEADLINE, || async {
        match received.latest("vigil.node.score", &[("node", "hub-dns")]) {
            Some(p) if p.value >= 90.0 => Ok(p),
            other => Err(format!("{:?}", other.map(|p| p.value))),
        }
    })
    .await;
    assert_eq!(attr(&score.attrs, "layer").as_deref(), Some("platform_hub"));
    assert_eq!(attr(&score.attrs, "side").as_deref(), Some("platform"));
    assert_eq!(score.unit, "{score}");
    assert_eq!(
        attr(&score.resource, "service.name").as_deref(),
        Some("vigil-aggregator")
    );
    assert_eq!(
        attr(&score.resource, "service.instance.id").as_deref(),
        Some("agg-under-test")
    );
    assert_eq!(
        attr(&score.resource, "deployment.environment").as_deref(),
        Some("test")
    );

    let state = received
        .latest(
            "vigil.node.state",
            &[("node", "hub-dns"), ("state", "healthy")],
        )
        .expect("state point");
    assert_eq!(state.value, 1.0);
    let api = received
        .latest("vigil.node.score", &[("node", "api-a")])
        .expect("api-a");
    assert_eq!(attr(&api.attrs, "network").as_deref(), Some("spoke-a"));
    assert_eq!(api.value, 0.0, "no data: unknown scores 0");

    let signals = eventually("ingest counter over OTLP", DEADLINE, || async {
        match received.latest("vigil.ingest.signals", &[]) {
            Some(p) if p.value == 10.0 => Ok(p),
            other => Err(format!("{:?}", other.map(|p| p.value))),
        }
    })
    .await;
    assert_eq!(signals.monotonic, Some(true), "a cumulative counter");
    assert!(
        received
            .latest("vigil.ingest.rejected", &[("reason", "malformed")])
            .is_some()
    );
    let faults = received
        .latest(
            "vigil.faults.open",
            &[("side", "platform"), ("kind", "outage")],
        )
        .expect("faults gauge");
    assert_eq!(faults.value, 0.0);
    assert!(
        received
            .latest("vigil.layer.score", &[("layer", "workload")])
            .is_some()
    );
    assert!(received.latest("vigil.overall.score", &[]).is_some());
    assert!(
        received.api_keys().iter().all(|k| k == "k-123") && !received.api_keys().is_empty(),
        "configured headers travel as gRPC metadata"
    );
    agg.shutdown().await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_export_reaches_v1_metrics() {
    let (addr, received) = http_receiver().await;
    let mut config = fast_config();
    config.export.otlp = Some(otlp(format!("http://{addr}"), OtlpProtocol::HttpProtobuf));
    let agg = Aggregator::start(config, model()).await.unwrap();
    let mut dns = Feeder::connect(
        agg.grpc_addr(),
        "agent-b",
        "spoke-b",
        "hub-dns",
        ProbeKind::Dns,
        Layer::PlatformHub,
    )
    .await;
    dns.batch(3, 1).await;
    let p = eventually("vantage ratio over OTLP/HTTP", DEADLINE, || async {
        received
            .latest(
                "vigil.vantage.success",
                &[
                    ("node", "hub-dns"),
                    ("agent", "agent-b"),
                    ("network", "spoke-b"),
                ],
            )
            .ok_or_else(|| "none yet".to_string())
    })
    .await;
    assert_eq!(p.value, 0.75);
    assert!(received.api_keys().iter().any(|k| k == "k-123"));
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_collector_does_not_stop_evaluation() {
    // Nothing listens on this port: exports fail, the aggregator carries on.
    let addr = closed_port().await;
    let mut config = fast_config();
    config.export.otlp = Some(otlp(format!("http://{addr}"), OtlpProtocol::Grpc));
    let agg = Aggregator::start(config, model()).await.unwrap();
    let mut snaps = agg.subscribe();
    let first = snaps.borrow_and_update().generation;
    eventually("evaluations continue", DEADLINE, || {
        let g = snaps.borrow().generation;
        async move {
            if g >= first + 10 {
                Ok(())
            } else {
                Err(format!("generation {g}"))
            }
        }
    })
    .await;
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_of_ingest_and_evaluate_arrive_without_transport_spans() {
    use tracing_subscriber::layer::SubscriberExt;
    let (addr, received, stop) = grpc_receiver().await;
    let mut config = fast_config();
    let mut o = otlp(format!("http://{addr}"), OtlpProtocol::Grpc);
    o.traces = Some(true);
    config.export.otlp = Some(o);
    let settings = config
        .export
        .otlp_settings(&|_| None)
        .unwrap()
        .expect("otlp on");
    let (traces, layer) =
        vigil_export::TraceExport::start::<tracing_subscriber::Registry>(&settings, "t").unwrap();
    // The only global subscriber of this test binary.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("no other global subscriber");
    let agg = Aggregator::start(config, model()).await.unwrap();
    let dns = Feeder::connect(
        agg.grpc_addr(),
        "agent-t",
        "hub",
        "hub-dns",
        ProbeKind::Dns,
        Layer::PlatformHub,
    )
    .await;
    drop(dns); // ends the ingest stream, closing its span
    let spans = eventually("evaluate and ingest spans", DEADLINE, || async {
        let reqs = received.trace_requests();
        let spans: Vec<(String, Vec<KeyValue>)> = reqs
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| (s.name.clone(), s.attributes.clone()))
            .collect();
        let evaluate = spans.iter().any(|(n, _)| n == "evaluate");
        let ingest = spans.iter().any(|(n, a)| {
            n == "grpc" && attr(a, "path").as_deref() == Some("/vigil.v1.IngestService/Stream")
        });
        if evaluate && ingest {
            Ok(spans)
        } else {
            Err(format!(
                "{} spans, evaluate={evaluate} ingest={ingest}",
                spans.len()
            ))
        }
    })
    .await;
    for (_, attrs) in &spans {
        let target = attr(attrs, "code.namespace").unwrap_or_default();
        for quiet in ["hyper", "h2", "tonic", "tower"] {
            assert!(
                !target.starts_with(quiet),
                "transport span exported: {target}"
            );
        }
    }
    agg.shutdown().await;
    traces.shutdown().await;
    stop.cancel();
}
