//! Checks of the single scalar fields every section uses (names, durations,
//! jitter): text in, a typed value or a `ConfigError` naming the field out.
//! Imports nothing but `error`; the section validators (`validate`,
//! `probes`, `export`, `kinds`) import it, never the other way round. It
//! must not know which section a field belongs to.

use std::time::Duration;

use super::error::{Complaint, ConfigError};

const MAX_JITTER: f64 = 0.5;

pub(super) fn check_name(
    c: &Complaint<'_>,
    field: &str,
    text: &str,
) -> Result<String, ConfigError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(c.at(field, "is empty", "give it a non-empty name"));
    }
    if t.chars().any(|ch| ch.is_control()) {
        return Err(c.at(
            field,
            format!("{t:?} contains control characters"),
            "use letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(t.to_owned())
}

pub(super) fn duration(
    c: &Complaint<'_>,
    field: &str,
    text: &str,
) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(text.trim()).map_err(|_| {
        c.at(
            field,
            format!("\"{text}\" is not a duration"),
            "write e.g. \"500ms\" or \"3s\"",
        )
    })?;
    if d.is_zero() {
        return Err(c.at(
            field,
            "is zero",
            "write a positive duration, e.g. \"500ms\" or \"3s\"",
        ));
    }
    Ok(d)
}

pub(super) fn opt_duration(
    c: &Complaint<'_>,
    field: &str,
    text: Option<&str>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    text.map_or(Ok(default), |t| duration(c, field, t))
}

pub(super) fn check_jitter(c: &Complaint<'_>, field: &str, value: f64) -> Result<f64, ConfigError> {
    if (0.0..=MAX_JITTER).contains(&value) {
        Ok(value)
    } else {
        Err(c.at(
            field,
            format!("{value} is outside 0..=0.5"),
            "give a fraction of the interval between 0 and 0.5, e.g. 0.1",
        ))
    }
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}
