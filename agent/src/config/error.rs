//! Errors from reading and validating an agent config. Every message names the
//! file, the field path and the fix, so an operator can correct the file
//! without reading code. Owns formatting only; it must not decide validity.

use std::fmt;

/// A config that cannot be used. Display reads like
/// `agent.yaml: probes[2].timeout: "3x" is not a duration; write e.g. "500ms" or "3s"`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: cannot read the file: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML of the expected shape (syntax error, unknown or
    /// mistyped field); shown as `file:line:column: message` when the parser
    /// knows where.
    #[error("{origin}{}: {message}", .location.map(|l| l.to_string()).unwrap_or_default())]
    Syntax {
        origin: String,
        location: Option<Location>,
        message: String,
    },
    /// A field has a value the agent cannot use.
    #[error("{origin}: {field}: {problem}; {fix}")]
    Invalid {
        origin: String,
        field: String,
        problem: String,
        fix: String,
    },
}

impl ConfigError {
    /// The field path (`probes[2].timeout`) of a validation error.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Where in the file a syntax error sits (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ":{}:{}", self.line, self.column)
    }
}

/// Builds `Invalid` errors for one file, so validation code stays terse.
pub(super) struct Complaint<'a> {
    pub origin: &'a str,
}

impl Complaint<'_> {
    pub fn at(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_owned(),
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}
