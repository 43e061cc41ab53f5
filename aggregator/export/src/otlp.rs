//! OTLP push of the catalog (gRPC or HTTP/protobuf) through the OpenTelemetry
//! SDK, and the resource that names this aggregator.
//!
//! Owns the meter provider and its observable instruments. Each collection
//! reads one cached set of points, built off the runtime's workers, so an
//! export never blocks evaluation or ingest. It must not define series (the
//! catalog does).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, MeterProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::runtime::Tokio;

use super::catalog::{self, FAMILIES, Family, Labels, MetricKind, SampleSink};
use super::config::{OtlpProtocol, OtlpSettings};
use super::http_client::ReqwestClient;
use super::source::MetricSource;

/// Why OTLP export could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "cannot build the OTLP {signal} exporter for {endpoint}: {message}; fix `export.otlp` or the OTEL_EXPORTER_OTLP_* variables"
    )]
    Build {
        signal: &'static str,
        endpoint: String,
        message: String,
    },
}

/// Points younger than this are reused: one collection reads every
/// instrument, and they must all see the same moment.
const POINTS_REUSE: Duration = Duration::from_millis(250);

/// The resource every exported metric and span carries.
pub fn resource(settings: &OtlpSettings, instance_id: &str) -> Resource {
    let mut attrs: Vec<KeyValue> = vec![
        KeyValue::new("service.instance.id", instance_id.to_string()),
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    ];
    for (k, v) in &settings.resource {
        if k != "service.name" {
            attrs.push(KeyValue::new(k.clone(), v.clone()));
        }
    }
    Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attrs)
        .build()
}

/// A running OTLP metrics pipeline; [`MetricsExport::shutdown`] flushes it.
pub struct MetricsExport {
    provider: SdkMeterProvider,
}

impl MetricsExport {
    /// Starts periodic export. Must run inside a tokio runtime.
    pub fn start(
        settings: &OtlpSettings,
        instance_id: &str,
        source: MetricSource,
    ) -> Result<Self, ExportError> {
        let endpoint = settings.metrics_endpoint();
        let build_err = |e: &dyn std::fmt::Display| ExportError::Build {
            signal: "metrics",
            endpoint: endpoint.clone(),
            message: e.to_string(),
        };
        let exporter = match settings.protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(settings.timeout)
                .with_metadata(metadata(settings).map_err(|e| build_err(&e))?)
                .build(),
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_timeout(settings.timeout)
                .with_headers(settings.headers.clone().into_iter().collect())
                .with_http_client(ReqwestClient::new(settings.timeout).map_err(|e| build_err(&e))?)
                .build(),
        }
        .map_err(|e| build_err(&e))?;
        let reader = PeriodicReader::builder(exporter, Tokio)
            .with_interval(settings.interval)
            .with_timeout(settings.timeout)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource(settings, instance_id))
            .build();
        register(&provider, source);
        tracing::info!(%endpoint, protocol = ?settings.protocol, interval = ?settings.interval, "OTLP metrics export started");
        Ok(Self { provider })
    }

    /// Exports once more and stops. Blocking work runs off the async
    /// threads: the SDK's shutdown waits on its own export task.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match done {
            Ok(Ok(())) => tracing::debug!("OTLP metrics export stopped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "OTLP metrics export did not flush cleanly"),
            Err(e) => tracing::warn!(error = %e, "OTLP metrics shutdown task failed"),
        }
    }
}

fn metadata(settings: &OtlpSettings) -> Result<tonic::metadata::MetadataMap, String> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (k, v) in &settings.headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("header `{k}`: {e}"))?;
        let value = v.parse().map_err(|e| format!("header `{k}` value: {e}"))?;
        map.insert(key, value);
    }
    Ok(map)
}

/// The catalog's samples as OpenTelemetry data points, built once per
/// collection: each label becomes its `KeyValue` once, not once per read.
#[derive(Default)]
struct Points {
    families: Vec<Vec<(Vec<KeyValue>, f64)>>,
}

impl SampleSink for Points {
    fn family(&mut self, _: &'static Family) {
        self.families.push(Vec::new());
    }

    fn sample(&mut self, labels: &Labels<'_>, value: f64) {
        let attributes = labels
            .pairs()
            .iter()
            .map(|(k, v)| KeyValue::new(*k, (*v).to_string()))
            .collect();
        if let Some(family) = self.families.last_mut() {
            family.push((attributes, value));
        }
    }
}

/// Points shared by every instrument of one collection.
struct PointCache {
    source: MetricSource,
    cached: Mutex<Option<(Instant, Arc<Points>)>>,
}

impl PointCache {
    fn get(&self) -> Arc<Points> {
        let mut slot = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, points)) = slot.as_ref()
            && at.elapsed() < POINTS_REUSE
        {
            return Arc::clone(points);
        }
        let points = Arc::new(off_the_workers(|| {
            let mut points = Points::default();
            catalog::visit(&self.source.inputs(), &mut points);
            points
        }));
        *slot = Some((Instant::now(), Arc::clone(&points)));
        points
    }
}

/// The SDK collects on a runtime worker, and a 10,000-node model's points
/// take tens of milliseconds to build: on a multi-threaded runtime the
/// worker hands its other tasks (ingest streams, queries) to another thread
/// first.
fn off_the_workers<T>(build: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(build)
    } else {
        build()
    }
}

fn register(provider: &SdkMeterProvider, source: MetricSource) {
    let meter = provider.meter("vigil-aggregator");
    let cache = Arc::new(PointCache {
        source,
        cached: Mutex::new(None),
    });
    for (ix, family) in FAMILIES.iter().enumerate() {
        let cache = Arc::clone(&cache);
        match family.kind {
            MetricKind::Gauge => {
                meter
                    .f64_observable_gauge(family.otel_name)
                    .with_unit(family.unit)
                    .with_description(family.help)
                    .with_callback(move |obs: &dyn AsyncInstrument<f64>| {
                        let points = cache.get();
                        for (attributes, value) in points.families.get(ix).into_iter().flatten() {
                            obs.observe(*value, attributes);
                        }
                    })
                    .build();
            }
            MetricKind::Counter => {
                meter
                    .u64_observable_counter(family.otel_name)
                    .with_unit(family.unit)
                    .with_description(family.help)
                    .with_callback(move |obs: &dyn AsyncInstrument<u64>| {
                        let points = cache.get();
                        for (attributes, value) in points.families.get(ix).into_iter().flatten() {
                            obs.observe(value.max(0.0) as u64, attributes);
                        }
                    })
                    .build();
            }
        }
    }
}
