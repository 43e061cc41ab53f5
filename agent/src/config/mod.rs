//! The agent's configuration: typed, validated values built from a YAML file
//! plus identity overrides from the environment (Kubernetes downward API).
//! Owns parsing at the edge; it must not start anything or touch the network.
//!
//! Inside, imports run one way: `validate` (the whole file) uses `probes` and
//! `export` (its sections), which use `kinds` and `fields` (single values),
//! which use `error`; `advice` reads a config once it is built. No
//! sub-config imports the module that imports it.

mod advice;
mod error;
mod export;
mod fields;
mod kinds;
mod probes;
mod raw;
mod spec;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use vigil_proto::v1;

pub use advice::{ConfigWarning, HUB_NETWORK};
pub use error::{ConfigError, Location};
pub use export::{ExportConfig, OTLP_SWITCH, OtlpProtocol, OtlpSettings};
pub use spec::{
    DnsChecks, DnsRecordType, DnsSpec, EgressSpec, FirewallProtocol, FirewallSpec, GrpcSpec,
    HostPort, HttpSpec, IpSet, PolicyExpectation, ProbeSpec, ReachabilityMethod, ReachabilitySpec,
    StatusExpectation, TcpSpec, TlsRoots, TlsSpec,
};

/// Environment variables that override the identity and placement fields.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("VIGIL_AGENT_ID", "agent.id"),
    ("VIGIL_NETWORK", "agent.network"),
    ("VIGIL_CLUSTER", "agent.cluster"),
    ("VIGIL_ZONE", "agent.zone"),
    ("VIGIL_REGION", "agent.region"),
    ("VIGIL_ROLE", "agent.role"),
    ("VIGIL_AGGREGATOR", "aggregator.endpoint"),
];

/// A complete, validated agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The file name used in error messages.
    pub origin: String,
    pub agent: AgentIdentity,
    pub aggregator: AggregatorConfig,
    pub delivery: DeliveryConfig,
    pub admin: AdminConfig,
    /// Optional push of probe results to an OpenTelemetry collector.
    pub export: ExportConfig,
    pub probes: Vec<ProbeConfig>,
}

/// Who the agent is and where it observes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub id: String,
    pub network: String,
    pub role: AgentRole,
    pub cluster: String,
    pub zone: String,
    pub region: String,
    pub labels: BTreeMap<String, String>,
}

impl AgentIdentity {
    /// The vantage point carried in `Hello`.
    pub fn vantage(&self) -> v1::Vantage {
        v1::Vantage {
            network: self.network.clone(),
            role: self.role.to_proto() as i32,
            cluster: self.cluster.clone(),
            zone: self.zone.clone(),
            region: self.region.clone(),
            labels: self.labels.clone().into_iter().collect(),
        }
    }
}

/// How the agent is deployed next to the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRole {
    Sidecar,
    Daemonset,
    Standalone,
}

impl AgentRole {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sidecar" => Some(Self::Sidecar),
            "daemonset" => Some(Self::Daemonset),
            "standalone" => Some(Self::Standalone),
            _ => None,
        }
    }

    pub fn to_proto(self) -> v1::AgentRole {
        match self {
            Self::Sidecar => v1::AgentRole::Sidecar,
            Self::Daemonset => v1::AgentRole::Daemonset,
            Self::Standalone => v1::AgentRole::Standalone,
        }
    }
}

/// Where signals go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// `https://host:port` (or, in plaintext, `http://host:port`) of the
    /// aggregator's ingest service.
    pub endpoint: String,
    pub connect_timeout: Duration,
    /// Set exactly when the endpoint is `https://`.
    pub tls: Option<AggregatorTls>,
}

/// How the agent verifies the aggregator and proves who it is. The files
/// are read at every connection, so a rotated certificate is used from the
/// next reconnect on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorTls {
    pub files: vigil_trust::ClientFiles,
    /// The name the aggregator's certificate must carry; default: the
    /// endpoint's host.
    pub server_name: Option<String>,
}

/// Batching, buffering and reconnect policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    pub batch_max_signals: usize,
    pub batch_max_delay: Duration,
    /// Unacknowledged signals kept for replay; the oldest are dropped beyond it.
    pub buffer_max_signals: usize,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// The small HTTP server for `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `None` disables the admin server.
    pub listen: Option<SocketAddr>,
}

/// One probe, fully resolved against the defaults.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub id: String,
    pub component: String,
    pub layer: v1::Layer,
    pub labels: BTreeMap<String, String>,
    pub schedule: Schedule,
    /// Slower than this counts as a failure with error class `slow`.
    pub latency_threshold: Option<Duration>,
    pub spec: ProbeSpec,
}

impl ProbeConfig {
    pub fn kind(&self) -> v1::ProbeKind {
        self.spec.kind()
    }

    /// The human-readable target carried in the probe's declaration.
    pub fn target(&self) -> String {
        self.spec.target()
    }
}

/// When a probe runs. `timeout < interval` and `jitter` in `0..=0.5` hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    pub timeout: Duration,
    /// Fraction of the interval by which each run is randomly shifted.
    pub jitter: f64,
}

impl AgentConfig {
    /// Reads and parses `path`, applies the identity overrides and the
    /// OTLP variables (`VIGIL_AGENT_OTLP`, `OTEL_*`) from the process
    /// environment, and validates. Logs every [`Self::warnings`] entry as a
    /// warning naming its probe.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            origin: origin.clone(),
            source,
        })?;
        let config = Self::from_yaml_with_env(&text, &origin, &|key| std::env::var(key).ok())?;
        for w in config.warnings() {
            tracing::warn!(config = %origin, probe = %w.probe, "{w}");
        }
        Ok(config)
    }

    /// Advice on probes that are valid but probably wrong where this agent
    /// runs (a deny firewall probe in the hub network); empty when there is
    /// none. Nothing here stops the agent.
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        advice::warnings(self)
    }

    /// Parses and validates YAML text; `origin` names the file in errors.
    /// No environment overrides are applied.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let raw = validate::parse(text, origin)?;
        validate::build(raw, origin, &|_| None)
    }

    /// `from_yaml` with the environment `load` reads (identity overrides,
    /// `VIGIL_AGENT_OTLP`, `OTEL_*`) taken from `lookup`.
    pub fn from_yaml_with_env(
        text: &str,
        origin: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut raw = validate::parse(text, origin)?;
        validate::apply_env_raw(&mut raw, lookup);
        validate::build(raw, origin, lookup)
    }

    /// Applies identity/placement overrides (`VIGIL_AGENT_ID`, `VIGIL_NETWORK`,
    /// `VIGIL_CLUSTER`, `VIGIL_ZONE`, `VIGIL_REGION`, `VIGIL_ROLE`,
    /// `VIGIL_AGGREGATOR`) from `lookup`, then re-validates them.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        validate::apply_env_typed(self, &lookup)
    }
}
