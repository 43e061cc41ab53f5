//! A Prometheus scraper during the measured interval: `GET /metrics` every
//! so often, as a deployment's Prometheus does, so the run's other figures
//! include what a scrape costs the aggregator, and the scrape's own time and
//! page size are reported.
//!
//! Owns the scrape loop. It must not send signals or queries.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// What the scraper saw.
#[derive(Debug, Default)]
pub struct ScrapeSamples {
    /// Request to the last byte of the page.
    pub took: Vec<Duration>,
    /// Size of the largest page, in bytes.
    pub page_bytes: usize,
    /// Scrapes that failed, answered other than 200, or were not a page of
    /// Vigil's series.
    pub errors: u64,
}

/// Scrapes `url` every `every` until `stop`, verifying an `https://` one
/// against `ca` (PEM).
pub async fn run(
    url: String,
    ca: Option<String>,
    every: Duration,
    stop: CancellationToken,
) -> ScrapeSamples {
    let mut out = ScrapeSamples::default();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(pem) = ca {
        match reqwest::Certificate::from_pem(pem.as_bytes()) {
            Ok(cert) => builder = builder.add_root_certificate(cert),
            Err(e) => {
                tracing::warn!(error = %e, "the run's CA is not a certificate");
                out.errors += 1;
                return out;
            }
        }
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no HTTP client for scrapes");
            out.errors += 1;
            return out;
        }
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return out,
            _ = ticks.tick() => {}
        }
        let started = Instant::now();
        let page = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.ok(),
            Ok(r) => {
                tracing::warn!(status = %r.status(), %url, "scrape refused");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, %url, "scrape failed");
                None
            }
        };
        match page {
            Some(body) if body.starts_with(b"# HELP vigil_") => {
                out.took.push(started.elapsed());
                out.page_bytes = out.page_bytes.max(body.len());
            }
            _ => out.errors += 1,
        }
    }
}
