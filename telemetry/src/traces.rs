//! The trace pipeline: an OTLP span exporter behind a batch processor on the
//! tokio runtime, and the `tracing` layer that feeds it.
//!
//! Owns building and stopping it, and the filter that keeps the transport
//! crates' own spans (hyper, h2, tonic, tower, reqwest, opentelemetry) out:
//! otherwise exporting telemetry would generate telemetry. It must not
//! decide which of the binary's spans matter beyond that.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;

use crate::exporter::{self, ExportError, shutdown_off_thread};
use crate::settings::{OtlpProtocol, OtlpSettings};

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

/// A running trace pipeline; [`TracePipeline::shutdown`] flushes it.
pub struct TracePipeline {
    provider: SdkTracerProvider,
}

impl TracePipeline {
    /// Builds the exporter and the layer to add to the subscriber (INFO and
    /// above, [`QUIET_TARGETS`] left out); `scope` names the tracer. Must
    /// run inside a tokio runtime.
    pub fn start<S>(
        settings: &OtlpSettings,
        resource: Resource,
        scope: &'static str,
    ) -> Result<(Self, impl Layer<S> + Send + Sync + 'static), ExportError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let endpoint = settings.traces_endpoint();
        let err = |e: String| ExportError::build("traces", &endpoint, e);
        let exporter = match settings.protocol {
            OtlpProtocol::Grpc => {
                exporter::grpc(SpanExporter::builder().with_tonic(), settings, &endpoint)
                    .map_err(err)?
                    .build()
            }
            OtlpProtocol::HttpProtobuf => {
                exporter::http(SpanExporter::builder().with_http(), settings, &endpoint)
                    .map_err(err)?
                    .build()
            }
        }
        .map_err(|e| err(e.to_string()))?;
        let processor = BatchSpanProcessor::builder(exporter, Tokio).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer(scope);
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

    /// Sends the spans still buffered and stops, off the async threads.
    pub async fn shutdown(self) {
        let provider = self.provider;
        shutdown_off_thread("traces", move || provider.shutdown()).await;
    }
}
