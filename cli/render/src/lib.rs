//! vigil-render: turns query responses into what the on-call engineer reads:
//! text for a terminal, and the one JSON shape ([`view`]) that both
//! `vigil --output json` and the aggregator's HTTP API serve.
//!
//! Every function here is pure (data in, `String` out) so layout, colour and
//! JSON shape are unit-tested without a server. It depends on the contract
//! (`vigil-proto`) alone and must not do I/O, read the environment or the
//! clock: the caller passes the [`Style`] and "now".
#![forbid(unsafe_code)]

pub mod faults;
pub mod node;
pub mod style;
pub mod tree;
pub mod view;
pub mod watch;
pub mod why;

mod table;

pub use style::{ColorChoice, Paint, Style};

use std::time::{Duration, UNIX_EPOCH};

use vigil_proto::v1::HealthState;

/// `--output`: text for people, JSON for `jq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// Largest time humantime can print (year 9999); beyond it a hostile or broken
/// timestamp is shown as a raw number instead of failing the render.
const MAX_PRINTABLE_UNIX_MS: i64 = 253_402_300_799_999;

/// An RFC 3339 UTC time for a Unix-milliseconds timestamp; zero or negative
/// means the aggregator never saw the event.
pub fn format_time(unix_ms: i64) -> String {
    if unix_ms <= 0 {
        return "never".to_owned();
    }
    if unix_ms > MAX_PRINTABLE_UNIX_MS {
        return format!("{unix_ms} ms since epoch");
    }
    let Ok(ms) = u64::try_from(unix_ms) else {
        return "never".to_owned();
    };
    match UNIX_EPOCH.checked_add(Duration::from_millis(ms)) {
        Some(t) => humantime::format_rfc3339_seconds(t).to_string(),
        None => format!("{unix_ms} ms since epoch"),
    }
}

/// A time of day (`10:42:07Z`) when the timestamp falls on the same UTC day as
/// `now_unix_ms`, the full RFC 3339 time otherwise: "since 10:42:07Z" reads
/// faster on a page than a date that is today anyway.
pub fn format_clock(unix_ms: i64, now_unix_ms: i64) -> String {
    let full = format_time(unix_ms);
    let today = format_time(now_unix_ms);
    match (full.get(..10), today.get(..10), full.get(11..)) {
        (Some(day), Some(now_day), Some(clock)) if day == now_day && full.ends_with('Z') => {
            clock.to_owned()
        }
        _ => full,
    }
}

/// How long before `now_unix_ms` the timestamp was, coarsely ("12s ago").
pub fn format_age(unix_ms: i64, now_unix_ms: i64) -> String {
    if unix_ms <= 0 {
        return "never".to_owned();
    }
    let delta = now_unix_ms.saturating_sub(unix_ms);
    if delta < 0 {
        // Clocks disagree; say so rather than print a negative age.
        return "in the future".to_owned();
    }
    let secs = delta / 1000;
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// Latency with a unit that keeps three significant digits or fewer.
pub fn format_latency(us: u32) -> String {
    match us {
        0 => "-".to_owned(),
        1..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", f64::from(us) / 1_000.0),
        _ => format!("{:.2}s", f64::from(us) / 1_000_000.0),
    }
}

/// Strips control characters (newlines, ANSI escapes) from text that came over
/// the wire, so a probe message cannot break the layout or repaint the terminal.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The state the user sees: an unset state is Unknown, never Healthy.
pub fn shown_state(state: HealthState) -> HealthState {
    match state {
        HealthState::Unspecified => HealthState::Unknown,
        other => other,
    }
}

/// Short lower-case name of a state (`unhealthy`), with unset shown as `unknown`.
pub fn state_name(state: HealthState) -> String {
    use vigil_proto::Label;
    state.label().to_string()
}

/// Removes ANSI escape sequences, so tests can compare coloured output with plain.
#[cfg(test)]
pub(crate) fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_and_never_panic() {
        assert_eq!(format_time(0), "never");
        assert_eq!(format_time(-5), "never");
        assert_eq!(format_time(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_time(i64::MAX),
            format!("{} ms since epoch", i64::MAX)
        );
    }

    #[test]
    fn clock_times_drop_the_date_of_today_only() {
        assert_eq!(
            format_clock(1_700_000_000_000, 1_700_000_060_000),
            "22:13:20Z"
        );
        assert_eq!(
            format_clock(1_700_000_000_000, 1_700_100_000_000),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(format_clock(0, 1_700_000_000_000), "never");
        assert_eq!(
            format_clock(i64::MAX, i64::MAX),
            format!("{} ms since epoch", i64::MAX)
        );
    }

    #[test]
    fn ages_are_coarse() {
        assert_eq!(format_age(1_000, 13_500), "12s ago");
        assert_eq!(format_age(0, 13_500), "never");
        assert_eq!(format_age(1_000, 1_000 + 3 * 3_600_000), "3h ago");
        assert_eq!(format_age(10_000, 1_000), "in the future");
        assert_eq!(format_age(i64::MAX, i64::MIN), "in the future");
    }

    #[test]
    fn latencies_pick_a_unit() {
        assert_eq!(format_latency(0), "-");
        assert_eq!(format_latency(850), "850µs");
        assert_eq!(format_latency(12_345), "12.3ms");
        assert_eq!(format_latency(1_200_000), "1.20s");
    }

    #[test]
    fn clean_removes_escapes_and_newlines() {
        assert_eq!(clean("a\nb\x1b[31m"), "a b [31m");
    }
}
