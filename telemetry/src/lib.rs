//! vigil-telemetry: the OpenTelemetry (OTLP) plumbing the agent and the
//! aggregator share. It owns the resolved OTLP settings ([`OtlpSettings`]:
//! endpoint, protocol, headers, timeout, interval, resource), how a config
//! file's values and the standard `OTEL_*` environment variables merge into
//! them ([`resolve`]), the exporter, meter-provider and tracer-provider
//! builders ([`MetricsPipeline`], [`TracePipeline`]) and the `reqwest` client
//! OTLP/HTTP sends with.
//!
//! It must not know what is exported: it knows nothing of Vigil's health
//! model, probes or series, and registers no instrument. Each binary keeps
//! its own catalog and its own YAML section, and hands this crate typed
//! values ([`OtlpFile`]) plus what differs between them ([`Profile`]). It
//! never reads the process environment itself (callers pass a lookup) and
//! logs through `tracing` only.
#![forbid(unsafe_code)]

mod exporter;
mod http_client;
mod metrics;
mod resolve;
mod settings;
#[cfg(feature = "traces")]
mod traces;

pub use exporter::{ExportError, resource};
pub use metrics::MetricsPipeline;
pub use resolve::{OtlpFile, Profile, SettingsError, resolve, sdk_disabled};
pub use settings::{OtlpProtocol, OtlpSettings};
#[cfg(feature = "traces")]
pub use traces::{QUIET_TARGETS, TracePipeline};
