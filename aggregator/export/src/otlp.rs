//! OTLP push of the catalog (gRPC or HTTP/protobuf) through the OpenTelemetry
//! SDK, and the resource that names this aggregator.
//!
//! Owns the observable instruments (the pipeline under them is
//! `vigil-telemetry`'s) and the resource. Each collection
//! reads one cached set of points, built off the runtime's workers, so an
//! export never blocks evaluation or ingest. It must not define series (the
//! catalog does).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Meter};
use opentelemetry_sdk::Resource;
pub use vigil_telemetry::ExportError;
use vigil_telemetry::{MetricsPipeline, OtlpSettings};

use super::catalog::{self, FAMILIES, Family, Labels, MetricKind, SampleSink};
use super::source::MetricSource;

/// Points younger than this are reused: one collection reads every
/// instrument, and they must all see the same moment.
const POINTS_REUSE: Duration = Duration::from_millis(250);

/// The resource every exported metric and span carries: this aggregator's
/// instance id and version, under the attributes the settings name.
pub fn resource(settings: &OtlpSettings, instance_id: &str) -> Resource {
    let mut attrs = BTreeMap::from([
        ("service.instance.id".to_owned(), instance_id.to_owned()),
        (
            "service.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
    ]);
    attrs.extend(settings.resource.clone());
    vigil_telemetry::resource(settings, attrs)
}

/// A running OTLP metrics pipeline; [`MetricsExport::shutdown`] flushes it.
pub struct MetricsExport {
    pipeline: MetricsPipeline,
}

impl MetricsExport {
    /// Starts periodic export of the catalog. Must run inside a tokio
    /// runtime.
    pub fn start(
        settings: &OtlpSettings,
        instance_id: &str,
        source: MetricSource,
    ) -> Result<Self, ExportError> {
        let (pipeline, ()) = MetricsPipeline::start(
            settings,
            resource(settings, instance_id),
            "vigil-aggregator",
            |meter| register(meter, source),
        )?;
        Ok(Self { pipeline })
    }

    /// Exports once more and stops.
    pub async fn shutdown(self) {
        self.pipeline.shutdown().await;
    }
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

fn register(meter: &Meter, source: MetricSource) {
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
