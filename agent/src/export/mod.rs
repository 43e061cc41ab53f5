//! Optional OTLP push of probe results (gRPC or HTTP/protobuf) through the
//! OpenTelemetry SDK: the same runs, failures, durations and up/down state
//! as the `/metrics` page, under OpenTelemetry names.
//!
//! Owns the agent's instruments and the resource naming this agent; the
//! pipeline under them (exporter, reader, provider, shutdown) is
//! `vigil-telemetry`'s. Counters and gauges are read from the probe cells at
//! collection time; only the duration histogram is recorded per run, through
//! a handle built once per probe. It must not define what is counted
//! (`metrics` does) or decide whether export is on (`config` does).

use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Histogram, Meter};
use opentelemetry_sdk::Resource;
use vigil_proto::ShortName;
pub use vigil_telemetry::ExportError;
use vigil_telemetry::MetricsPipeline;

use crate::config::{AgentIdentity, OtlpSettings};
use crate::metrics::{DURATION_BUCKETS, ProbeLabels, ProbeTable};

/// OpenTelemetry instrument names (dotted, no `_total`; a collector's
/// Prometheus exporter turns them back into the `/metrics` names).
pub const OTEL_PROBE_RUNS: &str = "vigil.agent.probe.runs";
pub const OTEL_PROBE_FAILURES: &str = "vigil.agent.probe.failures";
pub const OTEL_PROBE_DURATION: &str = "vigil.agent.probe.duration";
pub const OTEL_PROBE_UP: &str = "vigil.agent.probe.up";

/// A running OTLP metrics pipeline; [`OtlpExport::shutdown`] flushes it.
pub struct OtlpExport {
    pipeline: MetricsPipeline,
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
        let (pipeline, duration) = MetricsPipeline::start(
            settings,
            resource(settings, agent),
            "vigil-agent",
            |meter| register(meter, probes),
        )?;
        Ok(Self { pipeline, duration })
    }

    /// The duration recorder for one probe.
    pub fn duration_recorder(&self, labels: &ProbeLabels) -> DurationRecorder {
        DurationRecorder {
            histogram: self.duration.clone(),
            attributes: attributes(labels, &[]).into(),
        }
    }

    /// Exports once more and stops.
    pub async fn shutdown(self) {
        self.pipeline.shutdown().await;
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
    vigil_telemetry::resource(settings, attrs)
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
fn register(meter: &Meter, probes: Arc<ProbeTable>) -> Histogram<f64> {
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
