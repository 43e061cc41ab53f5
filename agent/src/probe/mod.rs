//! Probes: one file per kind, each turning one run against its target into an
//! `Observation`. Owns running a check and describing its result; it must not
//! schedule runs, batch results or talk to the aggregator.
//!
//! Adding a kind is one file implementing `Probe` plus one arm in `build`.

mod certificate;
pub mod classify;
mod connect;
mod dns;
mod egress;
mod exchange;
mod firewall;
mod grpc;
mod handshake;
mod http;
pub mod reachability;
mod tcp;
mod tls;
mod verdict;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use vigil_proto::v1::{self, ErrorClass, Outcome, signal_detail::Detail};

use crate::config::{ProbeConfig, ProbeSpec};

pub use dns::DnsProbe;
pub use egress::EgressProbe;
pub use firewall::FirewallProbe;
pub use grpc::GrpcProbe;
pub use http::HttpProbe;
pub use reachability::ReachabilityProbe;
pub use tcp::TcpProbe;
pub use tls::TlsProbe;

/// The result of one probe run.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub outcome: Outcome,
    /// `Unspecified` exactly when the outcome is a success; a warning names
    /// the threshold it crossed (e.g. `tls_expiring`).
    pub error_class: ErrorClass,
    /// How long the run took.
    pub latency: Duration,
    /// Whether `latency` is the target's latency, which is reported to the
    /// aggregator and judged. False for a `deny` firewall probe that was
    /// blocked: it waited on the firewall (a silent drop lasts the whole
    /// timeout), not on a service, so it reports no latency and never
    /// crosses `latency_threshold`.
    pub latency_reported: bool,
    /// A short human explanation; empty on a plain success, but a success
    /// may explain itself (a `deny` firewall probe says how it was blocked).
    pub message: String,
    pub detail: Option<Detail>,
}

impl Observation {
    pub fn success(latency: Duration) -> Self {
        Self {
            outcome: Outcome::Success,
            error_class: ErrorClass::Unspecified,
            latency,
            latency_reported: true,
            message: String::new(),
            detail: None,
        }
    }

    pub fn failure(class: ErrorClass, latency: Duration, message: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Failure,
            error_class: class,
            latency,
            latency_reported: true,
            message: message.into(),
            detail: None,
        }
    }

    /// Succeeded, but crossed a warning threshold.
    pub fn warning(class: ErrorClass, latency: Duration, message: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Warning,
            error_class: class,
            latency,
            latency_reported: true,
            message: message.into(),
            detail: None,
        }
    }

    /// The same observation, with a latency that is not the target's (see
    /// `latency_reported`).
    pub fn without_latency(mut self) -> Self {
        self.latency_reported = false;
        self
    }

    pub fn with_detail(mut self, detail: Detail) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn is_success(&self) -> bool {
        self.outcome == Outcome::Success
    }
}

pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Observation> + Send + 'a>>;

/// One kind of check. A run must finish by itself within the probe's
/// timeout; the scheduler also bounds it, answering `timeout_class`.
pub trait Probe: Send + Sync + 'static {
    fn run(&self) -> ProbeFuture<'_>;

    /// The class of a run that the scheduler had to cut off.
    fn timeout_class(&self) -> ErrorClass {
        ErrorClass::Timeout
    }
}

/// A probe that cannot be built from its (already validated) config, e.g.
/// because the system resolver configuration is unreadable.
#[derive(Debug, thiserror::Error)]
#[error("probe {id}: {message}")]
pub struct ProbeBuildError {
    pub id: String,
    pub message: String,
}

/// Builds the probe for one config entry.
pub fn build(config: &ProbeConfig) -> Result<Box<dyn Probe>, ProbeBuildError> {
    Builder::default().build(config)
}

/// Builds the probes of one agent, sharing what their runs can share: one
/// HTTP client per timeout for every `http` probe, built on the first one
/// that needs it, so an agent without HTTP probes builds none.
#[derive(Default)]
pub struct Builder {
    http_clients: HashMap<Duration, reqwest::Client>,
}

impl Builder {
    /// Builds the probe for one config entry.
    pub fn build(&mut self, config: &ProbeConfig) -> Result<Box<dyn Probe>, ProbeBuildError> {
        let timeout = config.schedule.timeout;
        let fail = |message: String| ProbeBuildError {
            id: config.id.clone(),
            message,
        };
        Ok(match &config.spec {
            ProbeSpec::Http(spec) => {
                let client = match self.http_clients.entry(timeout) {
                    Entry::Occupied(e) => e.get().clone(),
                    Entry::Vacant(e) => e.insert(http::client(timeout).map_err(fail)?).clone(),
                };
                Box::new(HttpProbe::with_client(spec.clone(), client, timeout))
            }
            ProbeSpec::Tcp(spec) => Box::new(TcpProbe::new(spec.clone(), timeout)),
            ProbeSpec::Dns(spec) => Box::new(DnsProbe::new(spec.clone(), timeout).map_err(fail)?),
            ProbeSpec::Tls(spec) => Box::new(TlsProbe::new(spec.clone(), timeout).map_err(fail)?),
            ProbeSpec::Firewall(spec) => {
                Box::new(FirewallProbe::new(spec.clone(), timeout).map_err(fail)?)
            }
            ProbeSpec::Reachability(spec) => {
                Box::new(ReachabilityProbe::new(spec.clone(), timeout))
            }
            ProbeSpec::Egress(spec) => {
                Box::new(EgressProbe::new(spec.clone(), timeout).map_err(fail)?)
            }
            ProbeSpec::Grpc(spec) => Box::new(GrpcProbe::new(spec.clone(), timeout).map_err(fail)?),
        })
    }
}

/// Grace beyond the configured timeout before the scheduler cuts a run off,
/// so a probe's own, more precise timeout classification wins the race.
const CUTOFF_GRACE: Duration = Duration::from_millis(250);

/// Runs a probe once, bounded by `timeout`, and applies the latency threshold.
pub async fn run_once(
    probe: &dyn Probe,
    timeout: Duration,
    latency_threshold: Option<Duration>,
) -> Observation {
    let start = Instant::now();
    let observation = match tokio::time::timeout(timeout + CUTOFF_GRACE, probe.run()).await {
        Ok(observation) => observation,
        Err(_) => Observation::failure(
            probe.timeout_class(),
            start.elapsed(),
            format!("no result within {}", humantime::format_duration(timeout)),
        ),
    };
    match latency_threshold {
        Some(limit)
            if observation.is_success()
                && observation.latency_reported
                && observation.latency > limit =>
        {
            let message = format!(
                "took {} (threshold {})",
                humantime::format_duration(round_ms(observation.latency)),
                humantime::format_duration(limit)
            );
            Observation {
                outcome: Outcome::Failure,
                error_class: ErrorClass::Slow,
                message,
                ..observation
            }
        }
        _ => observation,
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// The declaration the aggregator needs to interpret signals of this probe.
pub fn declaration(index: u32, config: &ProbeConfig) -> v1::ProbeDeclaration {
    v1::ProbeDeclaration {
        index,
        probe_id: config.id.clone(),
        kind: config.kind() as i32,
        target: config.target(),
        component: config.component.clone(),
        layer: config.layer as i32,
        labels: config.labels.clone().into_iter().collect(),
        interval_ms: config
            .schedule
            .interval
            .as_millis()
            .try_into()
            .unwrap_or(u32::MAX),
    }
}
