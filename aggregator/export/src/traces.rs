//! Traces of the ingest → evaluate path, exported over OTLP through
//! `tracing-opentelemetry`.
//!
//! Owns naming the tracer and the resource after this aggregator; the
//! pipeline and the layer that feeds it (with the transport crates' own
//! spans filtered out) are `vigil-telemetry`'s. It must not decide which
//! spans the aggregator opens.

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;
pub use vigil_telemetry::QUIET_TARGETS;
use vigil_telemetry::{OtlpSettings, TracePipeline};

use super::otlp::{ExportError, resource};

/// A running trace pipeline; [`TraceExport::shutdown`] flushes it.
pub struct TraceExport {
    pipeline: TracePipeline,
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
        let (pipeline, layer) = TracePipeline::start::<S>(
            settings,
            resource(settings, instance_id),
            "vigil-aggregator",
        )?;
        Ok((Self { pipeline }, layer))
    }

    /// Sends the spans still buffered and stops.
    pub async fn shutdown(self) {
        self.pipeline.shutdown().await;
    }
}
