//! OTLP export against real receivers started here: a tonic server
//! implementing the OpenTelemetry collector services (gRPC), and an HTTP
//! server decoding `/v1/metrics` protobuf bodies. The data points must arrive
//! with the right names, values, attributes and resource.

mod feed;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use feed::{Feeder, eventually, fast_config, model};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use vigil_aggregator::Aggregator;
use vigil_export::{OtlpConfig, OtlpProtocol};
use vigil_proto::v1::{Layer, ProbeKind};

/// Everything a receiver got, plus the request metadata it saw.
#[derive(Clone, Default)]
struct Received {
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    api_keys: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        if let Some(k) = request.metadata().get("x-api-key") {
            self.api_keys
                .lock()
                .unwrap()
                .push(k.to_str().unwrap().to_string());
        }
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn grpc_receiver() -> (SocketAddr, Received, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let stop = CancellationToken::new();
    let server = tonic::transport::Server::builder()
        .add_service(MetricsServiceServer::new(received.clone()))
        .add_service(TraceServiceServer::new(received.clone()))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            stop.clone().cancelled_owned(),
        );
    tokio::spawn(server);
    (addr, received, stop)
}

async fn http_receiver() -> (SocketAddr, Received) {
    async fn metrics(
        State(r): State<Received>,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::http::StatusCode {
        let Ok(req) = ExportMetricsServiceRequest::decode(body) else {
            return axum::http::StatusCode::BAD_REQUEST;
        };
        if let Some(k) = headers.get("x-api-key") {
            r.api_keys
                .lock()
                .unwrap()
                .push(k.to_str().unwrap().to_string());
        }
        r.metrics.lock().unwrap().push(req);
        axum::http::StatusCode::OK
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/metrics", axum::routing::post(metrics))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        }
    })
}

/// A data point seen by the receiver.
#[derive(Debug, Clone)]
struct Point {
    metric: String,
    unit: String,
    monotonic: Option<bool>,
    attrs: Vec<KeyValue>,
    value: f64,
    resource: Vec<KeyValue>,
}

fn points(reqs: &[ExportMetricsServiceRequest]) -> Vec<Point> {
    let mut out = Vec::new();
    for req in reqs {
        for rm in &req.resource_metrics {
            let resource = rm
                .resource
                .clone()
                .map(|r| r.attributes)
                .unwrap_or_default();
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let (dps, monotonic) = match &m.data {
                        Some(metric::Data::Gauge(g)) => (&g.data_points, None),
                        Some(metric::Data::Sum(s)) => (&s.data_points, Some(s.is_monotonic)),
                        _ => continue,
                    };
                    for dp in dps {
                        let value = match dp.value {
                            Some(number_data_point::Value::AsDouble(v)) => v,
                            Some(number_data_point::Value::AsInt(v)) => v as f64,
                            None => continue,
                        };
                        out.push(Point {
                            metric: m.name.clone(),
                            unit: m.unit.clone(),
                            monotonic,
                            attrs: dp.attributes.clone(),
                            value,
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
    }
    out
}

fn latest(received: &Received, metric: &str, want: &[(&str, &str)]) -> Option<Point> {
    let reqs = received.metrics.lock().unwrap().clone();
    points(&reqs).into_iter().rev().find(|p| {
        p.metric == metric
            && want
                .iter()
                .all(|(k, v)| attr(&p.attrs, k).as_deref() == Some(*v))
    })
}

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

    let score = eventually("hub-dns score over OTLP", || async {
        match latest(&received, "vigil.node.score", &[("node", "hub-dns")]) {
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

    let state = latest(
        &received,
        "vigil.node.state",
        &[("node", "hub-dns"), ("state", "healthy")],
    )
    .expect("state point");
    assert_eq!(state.value, 1.0);
    let api = latest(&received, "vigil.node.score", &[("node", "api-a")]).expect("api-a");
    assert_eq!(attr(&api.attrs, "network").as_deref(), Some("spoke-a"));
    assert_eq!(api.value, 0.0, "no data: unknown scores 0");

    let signals = eventually("ingest counter over OTLP", || async {
        match latest(&received, "vigil.ingest.signals", &[]) {
            Some(p) if p.value == 10.0 => Ok(p),
            other => Err(format!("{:?}", other.map(|p| p.value))),
        }
    })
    .await;
    assert_eq!(signals.monotonic, Some(true), "a cumulative counter");
    assert!(
        latest(
            &received,
            "vigil.ingest.rejected",
            &[("reason", "malformed")]
        )
        .is_some()
    );
    let faults = latest(
        &received,
        "vigil.faults.open",
        &[("side", "platform"), ("kind", "outage")],
    )
    .expect("faults gauge");
    assert_eq!(faults.value, 0.0);
    assert!(latest(&received, "vigil.layer.score", &[("layer", "workload")]).is_some());
    assert!(latest(&received, "vigil.overall.score", &[]).is_some());
    assert!(
        received
            .api_keys
            .lock()
            .unwrap()
            .iter()
            .all(|k| k == "k-123")
            && !received.api_keys.lock().unwrap().is_empty(),
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
    let p = eventually("vantage ratio over OTLP/HTTP", || async {
        latest(
            &received,
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
    assert!(
        received
            .api_keys
            .lock()
            .unwrap()
            .iter()
            .any(|k| k == "k-123")
    );
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_collector_does_not_stop_evaluation() {
    // Nothing listens on this port: exports fail, the aggregator carries on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let mut config = fast_config();
    config.export.otlp = Some(otlp(format!("http://{addr}"), OtlpProtocol::Grpc));
    let agg = Aggregator::start(config, model()).await.unwrap();
    let mut snaps = agg.subscribe();
    let first = snaps.borrow_and_update().generation;
    eventually("evaluations continue", || {
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
    let spans = eventually("evaluate and ingest spans", || async {
        let reqs = received.traces.lock().unwrap().clone();
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
