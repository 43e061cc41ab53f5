//! A refused configuration field, as every section of the aggregator's config
//! reports it: which field, what is wrong, and the fix.
//!
//! Sections (`alerts`, `export`, …) live in the crates that use them and do
//! not know which file they came from; the config file that holds them adds
//! its name when it reports the error.

/// One field that parses but cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}; fix: {fix}")]
pub struct FieldError {
    /// The field's path, e.g. `alerts.receivers[2].url`, or an environment
    /// variable such as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub field: String,
    pub problem: String,
    pub fix: String,
}
