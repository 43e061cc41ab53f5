//! The metrics pipeline: an OTLP metric exporter read by a periodic reader
//! on the tokio runtime, inside a meter provider carrying the resource.
//!
//! Owns building, flushing and stopping it. It must not register
//! instruments or decide what they observe: each binary registers its own
//! catalog on the `Meter` [`MetricsPipeline::start`] hands it.

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_otlp::MetricExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::runtime::Tokio;

use crate::exporter::{self, ExportError, shutdown_off_thread};
use crate::settings::{OtlpProtocol, OtlpSettings};

/// A running OTLP metrics pipeline; [`MetricsPipeline::shutdown`] flushes it.
pub struct MetricsPipeline {
    provider: Option<SdkMeterProvider>,
}

impl MetricsPipeline {
    /// Starts periodic export (every `settings.interval`, each export
    /// limited to `settings.timeout`) after `register` has registered the
    /// binary's instruments on the meter of instrumentation scope `scope`;
    /// returns what `register` returns beside the pipeline. Must run inside
    /// a tokio runtime: the reader's task is spawned on it.
    pub fn start<T>(
        settings: &OtlpSettings,
        resource: Resource,
        scope: &'static str,
        register: impl FnOnce(&Meter) -> T,
    ) -> Result<(Self, T), ExportError> {
        let endpoint = settings.metrics_endpoint();
        let err = |e: String| ExportError::build("metrics", &endpoint, e);
        let exporter = match settings.protocol {
            OtlpProtocol::Grpc => {
                exporter::grpc(MetricExporter::builder().with_tonic(), settings, &endpoint)
                    .map_err(err)?
                    .build()
            }
            OtlpProtocol::HttpProtobuf => {
                exporter::http(MetricExporter::builder().with_http(), settings, &endpoint)
                    .map_err(err)?
                    .build()
            }
        }
        .map_err(|e| err(e.to_string()))?;
        let reader = PeriodicReader::builder(exporter, Tokio)
            .with_interval(settings.interval)
            .with_timeout(settings.timeout)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource)
            .build();
        let registered = register(&provider.meter(scope));
        tracing::info!(
            %endpoint,
            protocol = settings.protocol.as_str(),
            interval = ?settings.interval,
            "OTLP metrics export started"
        );
        let pipeline = Self {
            provider: Some(provider),
        };
        Ok((pipeline, registered))
    }

    /// Exports once more and stops, off the async threads.
    pub async fn shutdown(mut self) {
        if let Some(provider) = self.provider.take() {
            shutdown_off_thread("metrics", move || provider.shutdown()).await;
        }
    }
}

impl Drop for MetricsPipeline {
    /// Dropped without `shutdown`: stop without blocking the async thread
    /// that drops it (the SDK would otherwise wait for its export task there).
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn_blocking(move || {
                let _ = provider.shutdown();
            });
        }
    }
}
