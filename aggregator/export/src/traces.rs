//! Traces of the ingest → evaluate path, exported over OTLP through
//! `tracing-opentelemetry`.
//!
//! Owns the tracer provider and the `tracing` layer that feeds it. The layer
//! drops the transport crates' own spans (hyper, h2, tonic, tower, reqwest,
//! opentelemetry): otherwise exporting telemetry would generate telemetry.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;

use super::config::{OtlpProtocol, OtlpSettings};
use super::http_client::ReqwestClient;
use super::otlp::{ExportError, resource};

/// Targets whose spans never reach the exporter.
pub const QUIET_TARGETS: [&str; 7] = [
    "hyper",
    "hyper_util",
    "h2",
    "tonic",
    "tower",
    "reqwest",
    "opentelemetry",
];

/// A running trace pipeline; [`TraceExport::shutdown`] flushes it.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Builds the exporter and the layer to add to the subscriber. Must run
    /// inside a tokio runtime.
    pub fn start<S>(
        settings: &OtlpSettings,
        instance_id: &str,
    ) -> Result<(Self, impl Layer<S> + Send + Sync + 'static), ExportError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let endpoint = settings.traces_endpoint();
        let build_err = |e: &dyn std::fmt::Display| ExportError::Build {
            signal: "traces",
            endpoint: endpoint.clone(),
            message: e.to_string(),
        };
        let exporter = match settings.protocol {
            OtlpProtocol::Grpc => {
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (k, v) in &settings.headers {
                    let key =
                        tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                            .map_err(|e| build_err(&e))?;
                    metadata.insert(key, v.parse().map_err(|e| build_err(&e))?);
                }
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint.clone())
                    .with_timeout(settings.timeout)
                    .with_metadata(metadata)
                    .build()
            }
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_timeout(settings.timeout)
                .with_headers(settings.headers.clone().into_iter().collect())
                .with_http_client(ReqwestClient::new(settings.timeout).map_err(|e| build_err(&e))?)
                .build(),
        }
        .map_err(|e| build_err(&e))?;
        let processor = BatchSpanProcessor::builder(exporter, Tokio).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource(settings, instance_id))
            .build();
        let tracer = provider.tracer("vigil-aggregator");
        let mut filter = Targets::new().with_default(LevelFilter::INFO);
        for target in QUIET_TARGETS {
            filter = filter.with_target(target, LevelFilter::OFF);
        }
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(filter);
        tracing::info!(%endpoint, "OTLP trace export started");
        Ok((Self { provider }, layer))
    }

    /// Sends the spans still buffered and stops.
    pub async fn shutdown(self) {
        let provider = self.provider;
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "OTLP trace export did not flush cleanly"),
            Err(e) => tracing::warn!(error = %e, "OTLP trace shutdown task failed"),
        }
    }
}
