//! Optional OTLP push of probe results (gRPC or HTTP/protobuf) through the
//! OpenTelemetry SDK: the same runs, failures, durations and up/down state
//! as the `/metrics` page, under OpenTelemetry names.
//!
//! Owns the meter provider, its instruments and the resource naming this
//! agent. Counters and gauges are read from the probe cells at collection
//! time; only the duration histogram is recorded per run, through a handle
//! built once per probe. It must not define what is counted (`metrics`
//! does) or decide whether export is on (`config` does).

mod http_client;

use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Histogram, MeterProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::runtime::Tokio;
use vigil_proto::ShortName;

use crate::config::{AgentIdentity, OtlpProtocol, OtlpSettings};
use crate::metrics::{DURATION_BUCKETS, ProbeLabels, ProbeTable};

use http_client::ReqwestClient;

/// OpenTelemetry instrument names (dotted, no `_total`; a collector's
/// Prometheus exporter turns them back into the `/metrics` names).
pub const OTEL_PROBE_RUNS: &str = "vigil.agent.probe.runs";
pub const OTEL_PROBE_FAILURES: &str = "vigil.agent.probe.failures";
pub const OTEL_PROBE_DURATION: &str = "vigil.agent.probe.duration";
pub const OTEL_PROBE_UP: &str = "vigil.agent.probe.up";

/// Why OTLP export could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "cannot build the OTLP metrics exporter for {endpoint}: {message}; fix export.otlp or the OTEL_EXPORTER_OTLP_* variables"
    )]
    Build { endpoint: String, message: String },
}

/// A running OTLP metrics pipeline; [`OtlpExport::shutdown`] flushes it.
pub struct OtlpExport {
    provider: Option<SdkMeterProvider>,
    duration: Histogram<f64>,
}

/// Records one probe's run durations into the OTLP histogram. Built once
/// per probe so a run only hands over a number.
#[derive(Clone)]
pub struct DurationRecorder {
    histogram: Histogram<f64>,
    attributes: Arc<[KeyValue]>,
}

impl DurationRecorder {
    pub fn record(&self, seconds: f64) {
        self.histogram.record(seconds, &self.attributes);
    }
}

impl OtlpExport {
    /// Starts periodic export. Must run inside a tokio runtime: the
    /// reader's task is spawned on it.
    pub fn start(
        settings: &OtlpSettings,
        agent: &AgentIdentity,
        probes: Arc<ProbeTable>,
    ) -> Result<Self, ExportError> {
        let endpoint = settings.endpoint.clone();
        let build_err = |e: &dyn std::fmt::Display| ExportError::Build {
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
            .with_resource(resource(settings, agent))
            .build();
        let duration = register(&provider, probes);
        tracing::info!(
            %endpoint,
            protocol = settings.protocol.as_str(),
            interval = ?settings.interval,
            "OTLP export of probe results started"
        );
        Ok(Self {
            provider: Some(provider),
            duration,
        })
    }

    /// The duration recorder for one probe.
    pub fn duration_recorder(&self, labels: &ProbeLabels) -> DurationRecorder {
        DurationRecorder {
            histogram: self.duration.clone(),
            attributes: attributes(labels, &[]).into(),
        }
    }

    /// Exports once more and stops. The SDK's shutdown blocks on its own
    /// export task, so it runs off the async threads.
    pub async fn shutdown(mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => tracing::debug!("OTLP export stopped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "OTLP export did not flush cleanly"),
            Err(e) => tracing::warn!(error = %e, "OTLP shutdown task failed"),
        }
    }
}

impl Drop for OtlpExport {
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

/// The resource every exported metric carries: who this agent is and where
/// it observes from.
fn resource(settings: &OtlpSettings, agent: &AgentIdentity) -> Resource {
    let mut attrs: BTreeMap<String, String> = settings.resource.clone();
    let identity = [
        ("service.instance.id", agent.id.as_str()),
        ("service.version", env!("CARGO_PKG_VERSION")),
        ("vigil.network", agent.network.as_str()),
        ("k8s.cluster.name", agent.cluster.as_str()),
        ("cloud.availability_zone", agent.zone.as_str()),
        ("cloud.region", agent.region.as_str()),
    ];
    for (key, value) in identity {
        if !value.is_empty() {
            attrs.insert(key.to_owned(), value.to_owned());
        }
    }
    attrs.insert(
        "vigil.agent.role".to_owned(),
        agent.role.to_proto().short_name(),
    );
    Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attrs.into_iter().map(|(k, v)| KeyValue::new(k, v)))
        .build()
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

fn attributes(labels: &ProbeLabels, extra: &[(&'static str, &str)]) -> Vec<KeyValue> {
    labels
        .pairs()
        .iter()
        .chain(extra)
        .map(|(k, v)| KeyValue::new(*k, v.to_string()))
        .collect()
}

/// Registers the instruments; returns the duration histogram, the only one
/// recorded per run (OpenTelemetry has no asynchronous histogram).
fn register(provider: &SdkMeterProvider, probes: Arc<ProbeTable>) -> Histogram<f64> {
    let meter = provider.meter("vigil-agent");
    let table = Arc::clone(&probes);
    meter
        .u64_observable_counter(OTEL_PROBE_RUNS)
        .with_unit("{run}")
        .with_description("Probe runs by outcome (success, warning, failure).")
        .with_callback(move |obs: &dyn AsyncInstrument<u64>| {
            for cell in table.cells() {
                for (outcome, n) in cell.snapshot().runs {
                    obs.observe(
                        n,
                        &attributes(cell.labels(), &[("outcome", outcome.name())]),
                    );
                }
            }
        })
        .build();
    let table = Arc::clone(&probes);
    meter
        .u64_observable_counter(OTEL_PROBE_FAILURES)
        .with_unit("{run}")
        .with_description("Failed probe runs by error class.")
        .with_callback(move |obs: &dyn AsyncInstrument<u64>| {
            for cell in table.cells() {
                for (class, n) in cell.snapshot().failures {
                    obs.observe(n, &attributes(cell.labels(), &[("error_class", class)]));
                }
            }
        })
        .build();
    let table = probes;
    meter
        .u64_observable_gauge(OTEL_PROBE_UP)
        .with_unit("1")
        .with_description(
            "1 if the probe's last run succeeded (a warning counts), 0 if it failed; absent before the first run.",
        )
        .with_callback(move |obs: &dyn AsyncInstrument<u64>| {
            for cell in table.cells() {
                if let Some(up) = cell.snapshot().up {
                    obs.observe(u64::from(up), &attributes(cell.labels(), &[]));
                }
            }
        })
        .build();
    meter
        .f64_histogram(OTEL_PROBE_DURATION)
        .with_unit("s")
        .with_description("Duration of probe runs.")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}
