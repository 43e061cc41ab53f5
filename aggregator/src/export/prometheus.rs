//! The Prometheus text exposition (format 0.0.4) of the catalog, served at
//! `/metrics` on the aggregator's HTTP port.
//!
//! Owns escaping and layout only. Which series exist and what they mean is
//! the catalog's job; this module must not invent series of its own.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::catalog::{Frame, MetricKind};
use super::source::MetricSource;

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders a frame; every family gets `# HELP` and `# TYPE` even without
/// samples, so scrapers and dashboards see the full catalog.
pub fn render(frame: &Frame) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for (family, samples) in frame.families() {
        let kind = match family.kind {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        };
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} {kind}", family.name);
        for s in samples {
            out.push_str(family.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_value(s.value));
        }
    }
    out
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `GET /metrics`, to be merged into the aggregator's HTTP router.
pub fn router(source: MetricSource) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(source)
}

async fn metrics(State(source): State<MetricSource>) -> impl IntoResponse {
    let body = render(&source.frame());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_integers_have_no_fraction() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(f64::NAN), "NaN");
    }
}
