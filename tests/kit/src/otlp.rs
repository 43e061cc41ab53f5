//! An OTLP collector for tests: a real tonic server implementing the
//! OpenTelemetry collector's metrics and trace services (gRPC, from
//! `opentelemetry-proto`'s generated server traits), and an HTTP server that
//! decodes protobuf bodies posted to `/v1/metrics`. Both record every request
//! and the `x-api-key` header it came with; [`Received`] reads them back as
//! flat data points.
//!
//! Owns receiving and reading back. It must not judge what arrived (the
//! tests assert) nor know any Vigil metric name.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
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
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

/// The header whose values [`Received::api_keys`] collects.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Everything a receiver got. Clones share the same record.
#[derive(Clone, Default)]
pub struct Received {
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    api_keys: Arc<Mutex<Vec<String>>>,
}

/// One data point as a receiver saw it, with its metric and resource.
#[derive(Debug, Clone)]
pub struct Point {
    pub metric: String,
    pub unit: String,
    /// `Some` for sums (whether monotonic), `None` for gauges and histograms.
    pub monotonic: Option<bool>,
    pub attrs: Vec<KeyValue>,
    /// The number of a gauge or sum point; the sum of a histogram point.
    pub value: f64,
    /// A histogram point's count, explicit bounds and bucket counts.
    pub histogram: Option<(u64, Vec<f64>, Vec<u64>)>,
    pub resource: Vec<KeyValue>,
}

impl Received {
    fn note_key(&self, key: Option<&str>) {
        if let Some(k) = key {
            self.api_keys.lock().unwrap().push(k.to_owned());
        }
    }

    /// Every metrics export request, oldest first.
    pub fn metric_requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.metrics.lock().unwrap().clone()
    }

    /// How many metrics export requests arrived.
    pub fn metric_request_count(&self) -> usize {
        self.metrics.lock().unwrap().len()
    }

    /// Every trace export request, oldest first.
    pub fn trace_requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.traces.lock().unwrap().clone()
    }

    /// The `x-api-key` of every request that carried one, in arrival order.
    pub fn api_keys(&self) -> Vec<String> {
        self.api_keys.lock().unwrap().clone()
    }

    /// Every gauge, sum and histogram point received, oldest first.
    pub fn points(&self) -> Vec<Point> {
        points(&self.metrics.lock().unwrap())
    }

    /// The newest point of `metric` whose attributes include all of `want`.
    pub fn latest(&self, metric: &str, want: &[(&str, &str)]) -> Option<Point> {
        self.points().into_iter().rev().find(|p| {
            p.metric == metric
                && want
                    .iter()
                    .all(|(k, v)| attr(&p.attrs, k).as_deref() == Some(*v))
        })
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.note_key(
            request
                .metadata()
                .get(API_KEY_HEADER)
                .and_then(|v| v.to_str().ok()),
        );
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

/// A gRPC collector (metrics and traces) on a free loopback port. Cancel the
/// token to stop it.
pub async fn grpc_receiver() -> (SocketAddr, Received, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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

/// An OTLP/HTTP collector on a free loopback port: protobuf bodies posted to
/// `/v1/metrics`; a body that does not decode gets 400 and is not recorded.
pub async fn http_receiver() -> (SocketAddr, Received) {
    async fn metrics(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let Ok(request) = ExportMetricsServiceRequest::decode(body) else {
            return StatusCode::BAD_REQUEST;
        };
        r.note_key(headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()));
        r.metrics.lock().unwrap().push(request);
        StatusCode::OK
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/metrics", axum::routing::post(metrics))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// The value of attribute `key`: strings as they are, other kinds in their
/// debug form.
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        }
    })
}

/// Flattens export requests into points; number points without a value
/// are left out.
pub fn points(requests: &[ExportMetricsServiceRequest]) -> Vec<Point> {
    let mut out = Vec::new();
    for req in requests {
        for rm in &req.resource_metrics {
            let resource = rm
                .resource
                .clone()
                .map(|r| r.attributes)
                .unwrap_or_default();
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let point = |attrs: &[KeyValue], monotonic, value| Point {
                        metric: m.name.clone(),
                        unit: m.unit.clone(),
                        monotonic,
                        attrs: attrs.to_vec(),
                        value,
                        histogram: None,
                        resource: resource.clone(),
                    };
                    let (numbers, monotonic) = match &m.data {
                        Some(metric::Data::Gauge(g)) => (&g.data_points, None),
                        Some(metric::Data::Sum(s)) => (&s.data_points, Some(s.is_monotonic)),
                        Some(metric::Data::Histogram(h)) => {
                            for dp in &h.data_points {
                                out.push(Point {
                                    histogram: Some((
                                        dp.count,
                                        dp.explicit_bounds.clone(),
                                        dp.bucket_counts.clone(),
                                    )),
                                    ..point(&dp.attributes, None, dp.sum.unwrap_or_default())
                                });
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    for dp in numbers {
                        let value = match dp.value {
                            Some(number_data_point::Value::AsDouble(v)) => v,
                            Some(number_data_point::Value::AsInt(v)) => v as f64,
                            None => continue,
                        };
                        out.push(point(&dp.attributes, monotonic, value));
                    }
                }
            }
        }
    }
    out
}
