//! vigil-export: exporting Vigil's health to the places on-call already looks: a
//! Prometheus `/metrics` page and OTLP push (metrics and traces).
//!
//! Owns the series catalog and the exporters. It reads published snapshots
//! and counters through [`MetricSource`]; it must never change ingest or
//! evaluation state, and a slow or dead collector must never slow them.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod config;
pub mod otlp;
pub mod prometheus;
mod source;
pub mod traces;

pub use catalog::{FAMILIES, Family, Frame, MetricKind, Sample};
pub use config::{ExportConfig, OtlpConfig, OtlpProtocol, OtlpSettings, PrometheusConfig};
pub use otlp::{ExportError, MetricsExport};
pub use source::MetricSource;
pub use traces::TraceExport;
