//! The `export:` section: the optional OTLP push of probe results, resolved
//! against the standard `OTEL_*` environment variables by `vigil-telemetry`.
//!
//! Owns the section's on/off rule and turning its YAML text into typed
//! values; it must not start exporters. Export is off unless the section is
//! present (and not `enabled: false`) or `VIGIL_AGENT_OTLP=1`: an agent never
//! starts pushing just because its environment happens to carry
//! `OTEL_EXPORTER_OTLP_ENDPOINT` meant for the workload. Once on, a value
//! written in the file wins, `OTEL_*` variables fill in what it leaves out,
//! and defaults come last.

use std::time::Duration;

use vigil_telemetry::{OtlpFile, Profile, SettingsError};
pub use vigil_telemetry::{OtlpProtocol, OtlpSettings};

use super::error::{Complaint, ConfigError};
use super::fields;
use super::raw::{RawExport, RawOtlp};

/// Turns OTLP export on (`1`) or off (`0`) regardless of the file.
pub const OTLP_SWITCH: &str = "VIGIL_AGENT_OTLP";

/// The agent exports metrics only, so the `OTEL_EXPORTER_OTLP_METRICS_*`
/// variables count too.
const PROFILE: Profile = Profile {
    section: "export.otlp",
    service_name: "vigil-agent",
    interval: Duration::from_secs(30),
    traces: false,
    kubernetes_resource: false,
};

/// `export:` after validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportConfig {
    /// `None`: nothing is exported over OTLP.
    pub otlp: Option<OtlpSettings>,
}

pub(super) fn build(
    c: &Complaint<'_>,
    raw: RawExport,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExportConfig, ConfigError> {
    let env = |key: &str| env(key).filter(|v| !v.trim().is_empty());
    // The file is checked even when export is off, so a mistake shows up
    // before someone turns it on.
    let file = raw.otlp.map(|f| parse_file(c, f)).transpose()?;
    let switch = env(OTLP_SWITCH).map(|v| parse_switch(c, &v)).transpose()?;
    let wanted = match switch {
        Some(on) => on,
        None => file.as_ref().is_some_and(|(enabled, _)| *enabled),
    };
    if !wanted || vigil_telemetry::sdk_disabled(&env) {
        return Ok(ExportConfig { otlp: None });
    }
    let (_, file) = file.unwrap_or((true, OtlpFile::default()));
    vigil_telemetry::resolve(&file, &PROFILE, &env)
        .map(|s| ExportConfig { otlp: Some(s) })
        .map_err(|e| complain(c, e))
}

/// The file's values, typed and checked without the environment, and
/// whether the section turns export on.
fn parse_file(c: &Complaint<'_>, raw: RawOtlp) -> Result<(bool, OtlpFile), ConfigError> {
    let protocol = raw
        .protocol
        .map(|p| {
            OtlpProtocol::from_name(&p).ok_or_else(|| {
                c.at(
                    "export.otlp.protocol",
                    format!("\"{p}\" is not an OTLP protocol"),
                    "use grpc or http (OTLP/HTTP with protobuf bodies)",
                )
            })
        })
        .transpose()?;
    let interval = raw
        .interval
        .map(|t| fields::duration(c, "export.otlp.interval", &t))
        .transpose()?;
    let timeout = raw
        .timeout
        .map(|t| fields::duration(c, "export.otlp.timeout", &t))
        .transpose()?;
    let file = OtlpFile {
        endpoint: raw.endpoint,
        protocol,
        interval,
        timeout,
        headers: raw.headers,
        ..OtlpFile::default()
    };
    file.check(&PROFILE).map_err(|e| complain(c, e))?;
    Ok((raw.enabled.unwrap_or(true), file))
}

fn parse_switch(c: &Complaint<'_>, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(c.at(
            format!("export.otlp (from {OTLP_SWITCH})"),
            format!("\"{text}\" is not a switch"),
            format!("set {OTLP_SWITCH}=1 to export over OTLP or {OTLP_SWITCH}=0 to stop it"),
        )),
    }
}

/// An OTLP settings error as this file's error: `export.otlp.endpoint (from
/// OTEL_EXPORTER_OTLP_ENDPOINT)`, the problem and the fix.
fn complain(c: &Complaint<'_>, e: SettingsError) -> ConfigError {
    c.at(e.location(), e.problem, e.fix)
}
