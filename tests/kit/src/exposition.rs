//! A Prometheus `/metrics` page as a test reads it: fetched over HTTP
//! ([`scrape`]), parsed by an independent parser (`prometheus-parse`,
//! [`parse`]), and samples picked by metric name and labels ([`find`],
//! [`find_all`], [`one`]) and read as numbers ([`number`]).
//!
//! Owns reading a page. It must not know any Vigil series name, and it does
//! not lint the page: [`crate::promtool`] does.

use std::net::SocketAddr;

use prometheus_parse::Value;
pub use prometheus_parse::{Sample, Scrape};

/// `GET http://{addr}/metrics`, which must answer 200: the content type
/// (empty if none) and the page.
pub async fn scrape(addr: SocketAddr) -> (String, String) {
    let r = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(r.status(), 200, "GET /metrics");
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (content_type, r.text().await.unwrap())
}

/// The page parsed; panics if it is not valid exposition text.
pub fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("exposition parses")
}

/// A counter's, gauge's or untyped sample's value; panics for histograms
/// and summaries.
pub fn number(s: &Sample) -> f64 {
    match s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{} is not a number: {other:?}", s.metric),
    }
}

/// Every sample of `metric` whose labels include all of `labels`.
pub fn find_all<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// The first sample of `metric` whose labels include all of `labels`.
pub fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    find_all(scrape, metric, labels).into_iter().next()
}

/// The only sample of `metric` with `labels`; panics on none or several.
pub fn one<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> &'a Sample {
    match find_all(scrape, metric, labels).as_slice() {
        [s] => s,
        other => panic!("expected one {metric} {labels:?}, found {}", other.len()),
    }
}
