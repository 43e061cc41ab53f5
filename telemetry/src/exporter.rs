//! What every OTLP exporter is built from, whatever its signal: the
//! transport (gRPC with the headers as metadata, or OTLP/HTTP with protobuf
//! bodies through [`ReqwestClient`]), the resource, the build error, and
//! stopping a provider without blocking an async thread.
//!
//! Owns the shared builder steps; it must not choose endpoints (settings
//! do) or register instruments (the binaries do).

use std::collections::BTreeMap;
use std::fmt::Display;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use tonic::metadata::{MetadataKey, MetadataMap};

use crate::http_client::ReqwestClient;
use crate::settings::OtlpSettings;

/// Why an OTLP exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "cannot build the OTLP {signal} exporter for {endpoint}: {message}; fix export.otlp or the OTEL_EXPORTER_OTLP_* variables"
    )]
    Build {
        /// `metrics` or `traces`.
        signal: &'static str,
        endpoint: String,
        message: String,
    },
}

impl ExportError {
    pub(crate) fn build(signal: &'static str, endpoint: &str, e: impl Display) -> Self {
        Self::Build {
            signal,
            endpoint: endpoint.to_owned(),
            message: e.to_string(),
        }
    }
}

/// The resource every exported metric and span carries: `service.name`
/// from the settings and `attributes` (a `service.name` among them is
/// ignored). The caller decides whether its own attributes or the settings'
/// `resource` win where both name a key.
pub fn resource(settings: &OtlpSettings, attributes: BTreeMap<String, String>) -> Resource {
    Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(
            attributes
                .into_iter()
                .filter(|(k, _)| k != "service.name")
                .map(|(k, v)| KeyValue::new(k, v)),
        )
        .build()
}

/// A gRPC exporter builder (of any signal) aimed at `endpoint`, with the
/// settings' timeout and headers as metadata.
pub(crate) fn grpc<B: WithExportConfig + WithTonicConfig>(
    builder: B,
    settings: &OtlpSettings,
    endpoint: &str,
) -> Result<B, String> {
    Ok(builder
        .with_endpoint(endpoint)
        .with_timeout(settings.timeout)
        .with_metadata(metadata(&settings.headers)?))
}

/// An OTLP/HTTP exporter builder (of any signal) posting protobuf bodies to
/// `endpoint` through the workspace's `reqwest`.
pub(crate) fn http<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    settings: &OtlpSettings,
    endpoint: &str,
) -> Result<B, String> {
    let client = ReqwestClient::new(settings.timeout).map_err(|e| e.to_string())?;
    Ok(builder
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(settings.timeout)
        .with_headers(settings.headers.clone().into_iter().collect())
        .with_http_client(client))
}

/// The headers as gRPC metadata (lower-case keys).
fn metadata(headers: &BTreeMap<String, String>) -> Result<MetadataMap, String> {
    let mut map = MetadataMap::new();
    for (k, v) in headers {
        let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("header `{k}`: {e}"))?;
        let value = v.parse().map_err(|e| format!("header `{k}` value: {e}"))?;
        map.insert(key, value);
    }
    Ok(map)
}

/// Runs a provider's `shutdown` on the blocking pool and logs how it went:
/// the SDK's shutdown waits on its own export task, which must not happen
/// on an async thread.
pub(crate) async fn shutdown_off_thread<E: Display + Send + 'static>(
    signal: &'static str,
    shutdown: impl FnOnce() -> Result<(), E> + Send + 'static,
) {
    match tokio::task::spawn_blocking(shutdown).await {
        Ok(Ok(())) => tracing::debug!(signal, "OTLP export stopped"),
        Ok(Err(e)) => tracing::warn!(signal, error = %e, "OTLP export did not flush cleanly"),
        Err(e) => tracing::warn!(signal, error = %e, "OTLP shutdown task failed"),
    }
}
