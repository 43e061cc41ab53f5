//! The Prometheus text exposition (format 0.0.4) of the catalog, served at
//! `/metrics` on the aggregator's HTTP port.
//!
//! Owns escaping and layout only. Which series exist and what they mean is
//! the catalog's job; this module must not invent series of its own.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::catalog::{self, Family, Inputs, Labels, MetricKind, SampleSink};
use super::source::MetricSource;

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the page; every family gets `# HELP` and `# TYPE` even without
/// samples, so scrapers and dashboards see the full catalog.
pub fn render(inputs: &Inputs) -> String {
    render_with_capacity(inputs, 16 * 1024)
}

/// [`render`] into a buffer of `capacity` bytes: a 10,000-node page is
/// ~22 MB, and growing to it by doubling copies it again and again.
pub fn render_with_capacity(inputs: &Inputs, capacity: usize) -> String {
    let mut page = Page {
        out: String::with_capacity(capacity),
        name: "",
    };
    catalog::visit(inputs, &mut page);
    page.out
}

/// The text page, written as the catalog hands samples over.
struct Page {
    out: String,
    /// Name of the family being written.
    name: &'static str,
}

impl SampleSink for Page {
    fn family(&mut self, family: &'static Family) {
        let kind = match family.kind {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        };
        self.name = family.name;
        let out = &mut self.out;
        out.push_str("# HELP ");
        out.push_str(family.name);
        out.push(' ');
        escape_into(out, family.help, false);
        out.push_str("\n# TYPE ");
        out.push_str(family.name);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
    }

    fn sample(&mut self, labels: &Labels<'_>, value: f64) {
        let out = &mut self.out;
        out.push_str(self.name);
        let pairs = labels.pairs();
        if !pairs.is_empty() {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape_into(out, v, true);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        write_value(out, value);
        out.push('\n');
    }
}

/// Backslash and newline are escaped everywhere, the double quote only in
/// label values (the format's rules).
fn escape_into(out: &mut String, text: &str, quote: bool) {
    // Label values are short (ids, names): a plain scan beats a vectorized
    // search's set-up.
    if !text.bytes().any(|b| matches!(b, b'\\' | b'\n' | b'"')) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        let _ = write!(out, "{v}");
    }
}

/// `GET /metrics`, to be merged into the aggregator's HTTP router.
pub fn router(source: MetricSource) -> Router {
    let state = Scrapes {
        source,
        last_size: Arc::new(AtomicUsize::new(16 * 1024)),
    };
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

#[derive(Clone)]
struct Scrapes {
    source: MetricSource,
    /// Size of the previous page, to size the next one's buffer.
    last_size: Arc<AtomicUsize>,
}

/// A large model's page takes a few hundred milliseconds of CPU; it is
/// written on the blocking pool so the runtime's workers, which carry
/// ingest and queries, never stall behind a scrape.
async fn metrics(State(scrapes): State<Scrapes>) -> Response {
    let capacity = scrapes.last_size.load(Ordering::Relaxed);
    let source = scrapes.source.clone();
    let page = tokio::task::spawn_blocking(move || {
        render_with_capacity(&source.inputs(), capacity + capacity / 8)
    })
    .await;
    match page {
        Ok(body) => {
            scrapes.last_size.store(body.len(), Ordering::Relaxed);
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering /metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering /metrics failed\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str, quote: bool) -> String {
        let mut out = String::new();
        escape_into(&mut out, text, quote);
        out
    }

    fn value(v: f64) -> String {
        let mut out = String::new();
        write_value(&mut out, v);
        out
    }

    #[test]
    fn labels_are_escaped_and_integers_have_no_fraction() {
        assert_eq!(escaped("a\"b\\c\nd", true), "a\\\"b\\\\c\\nd");
        assert_eq!(escaped("a\"b\nc", false), "a\"b\\nc");
        assert_eq!(escaped("plain", true), "plain");
        assert_eq!(value(3.0), "3");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }
}
