//! Human-readable durations (`500ms`, `2s`, `5m`) in YAML files, and the
//! small text helpers shared by the two YAML loaders.
//!
//! Owns only the serde glue; it must not decide which durations are valid for
//! a given field (that is the job of each file's validation).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserializes a duration written as `500ms`, `2s`, `1m30s`.
pub fn deserialize<'de, D>(de: D) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(de)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Parses a duration with a message that says how to write one.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write it like `500ms`, `2s` or `5m`")
    })
}

/// Formats a duration the way it is written in the files.
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Like [`deserialize`], for optional fields (`#[serde(default)]`).
pub fn deserialize_opt<'de, D>(de: D) -> Result<Option<Duration>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = Option::<String>::deserialize(de)?;
    text.map(|t| parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// Drops the parser's trailing " at line L, column C": errors state the
/// location once, in their own format.
pub fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => message[..i].to_string(),
        _ => message.to_string(),
    }
}
