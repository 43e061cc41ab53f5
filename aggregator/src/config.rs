//! The aggregator's own configuration file: listen addresses, where the model
//! lives, evaluation timing and ingest limits.
//!
//! Owns parsing and validation of that file, with errors that name the file,
//! the field and the fix. It must not read the model itself (see `model`) nor
//! start anything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use vigil_model::duration;

pub use vigil_health::evaluate::EvaluationConfig;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read aggregator config {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "aggregator config {file}, line {line}, column {column}: {message}; fix the YAML there (reference: docs/model.md, example: deploy/examples/aggregator.yaml)"
    )]
    Parse {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("aggregator config {file}: field `{field}`: {problem}; fix: {fix}")]
    Invalid {
        file: String,
        field: &'static str,
        problem: String,
        fix: String,
    },
    /// Like `Invalid`, for fields whose path is built at run time
    /// (`alerts.receivers[2].url`) or environment variables (`OTEL_*`).
    #[error("aggregator config {file}: field `{field}`: {problem}; fix: {fix}")]
    Section {
        file: String,
        field: String,
        problem: String,
        fix: String,
    },
}

/// Everything the aggregator process needs besides the model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Name this aggregator gives itself in `Welcome` messages.
    #[serde(default = "default_id")]
    pub id: String,
    #[serde(default)]
    pub listen: ListenConfig,
    /// Path of the health model; relative paths are resolved against the
    /// config file's directory. Only the binary reads it: the library takes a
    /// loaded [`crate::Model`].
    pub model: PathBuf,
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Fault attribution (docs/attribution.md).
    #[serde(default)]
    pub attribution: vigil_health::attribution::AttributionConfig,
    /// Prometheus `/metrics` and OTLP push (docs/observability.md).
    #[serde(default)]
    pub export: vigil_export::ExportConfig,
    /// Alert receivers and routes (docs/observability.md).
    #[serde(default)]
    pub alerts: vigil_alert::AlertsConfig,
    /// TLS on both listeners and agents' client certificates
    /// (docs/security.md). Required unless `insecure.plaintext` is set.
    #[serde(default)]
    pub tls: Option<crate::trust::TlsConfig>,
    /// Header deadline and body cap of the HTTP API's connections.
    #[serde(default)]
    pub http: crate::http_serve::HttpLimits,
    /// Bearer credentials for the query API (docs/security.md, "Who may
    /// ask"). Required unless `insecure.open_api` is set.
    #[serde(default)]
    pub auth: crate::access::AuthConfig,
    /// Explicit opt-outs of the secure default; each warns at start.
    #[serde(default)]
    pub insecure: crate::trust::InsecureConfig,
}

/// Where the two servers listen. Port 0 lets the OS choose.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Ingest, query, gRPC health and reflection, all on one port.
    #[serde(default = "default_grpc")]
    pub grpc: SocketAddr,
    /// `/healthz`, `/readyz` and `/api/v1/...`.
    #[serde(default = "default_http")]
    pub http: SocketAddr,
}

/// Limits that protect the aggregator from bad or hostile agents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Signals allowed in one batch.
    #[serde(default = "default_max_batch_signals")]
    pub max_batch_signals: usize,
    /// Largest encoded ingest message accepted, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How far in the future a signal's time may be (agent clock ahead).
    #[serde(
        default = "default_max_clock_skew",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub max_clock_skew: Duration,
    /// How old a signal may be (replayed after an outage).
    #[serde(
        default = "default_max_signal_age",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub max_signal_age: Duration,
    /// Distinct probes one agent may declare over its life (a cardinality
    /// guard: each is a series in memory).
    #[serde(default = "default_max_probes_per_agent")]
    pub max_probes_per_agent: usize,
    /// Agent streams open at once, all agents together.
    #[serde(default = "default_max_streams")]
    pub max_streams: usize,
    /// Streams one agent may hold at once. A newer one ends the oldest: the
    /// agent that reconnects is the one that is alive.
    #[serde(default = "default_max_streams_per_agent")]
    pub max_streams_per_agent: usize,
    /// Signals per second per agent.
    #[serde(default)]
    pub rate_limit: RateLimit,
}

/// `ingest.rate_limit`: a token bucket per agent. An agent over its rate is
/// paced (its stream is read more slowly, so only it waits); one that would
/// have to wait longer than `max_delay` for a batch is refused with
/// `RESOURCE_EXHAUSTED` and told when to come back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained signals per second.
    #[serde(default = "default_signals_per_second")]
    pub signals_per_second: f64,
    /// Signals an agent may send at once above its rate (a replay after an
    /// outage, a restart).
    #[serde(default = "default_burst")]
    pub burst: f64,
    /// The longest a batch is held to pace an agent before it is refused.
    #[serde(
        default = "default_max_delay",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub max_delay: Duration,
}

impl Eq for RateLimit {}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            signals_per_second: default_signals_per_second(),
            burst: default_burst(),
            max_delay: default_max_delay(),
        }
    }
}

fn default_max_probes_per_agent() -> usize {
    1000
}
fn default_max_streams() -> usize {
    20_000
}
fn default_max_streams_per_agent() -> usize {
    2
}
fn default_signals_per_second() -> f64 {
    2000.0
}
fn default_burst() -> f64 {
    50_000.0
}
fn default_max_delay() -> Duration {
    Duration::from_secs(2)
}

fn default_id() -> String {
    "vigil-aggregator".to_string()
}
fn default_grpc() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7400))
}
fn default_http() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7401))
}
fn default_max_batch_signals() -> usize {
    10_000
}
fn default_max_message_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_max_clock_skew() -> Duration {
    Duration::from_secs(5 * 60)
}
fn default_max_signal_age() -> Duration {
    Duration::from_secs(6 * 3600)
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            grpc: default_grpc(),
            http: default_http(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_batch_signals: default_max_batch_signals(),
            max_message_bytes: default_max_message_bytes(),
            max_clock_skew: default_max_clock_skew(),
            max_signal_age: default_max_signal_age(),
            max_probes_per_agent: default_max_probes_per_agent(),
            max_streams: default_max_streams(),
            max_streams_per_agent: default_max_streams_per_agent(),
            rate_limit: RateLimit::default(),
        }
    }
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            id: default_id(),
            listen: ListenConfig::default(),
            model: PathBuf::from("model.yaml"),
            evaluation: EvaluationConfig::default(),
            ingest: IngestConfig::default(),
            attribution: vigil_health::attribution::AttributionConfig::default(),
            export: vigil_export::ExportConfig::default(),
            alerts: vigil_alert::AlertsConfig::default(),
            tls: None,
            http: crate::http_serve::HttpLimits::default(),
            auth: crate::access::AuthConfig::default(),
            insecure: crate::trust::InsecureConfig::default(),
        }
    }
}

impl AggregatorConfig {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names the file in errors and
    /// anchors a relative `model:` path.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut config: Self = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            ConfigError::Parse {
                file: origin.to_string(),
                line,
                column,
                message: vigil_model::duration::strip_location(&e.without_snippet().to_string()),
            }
        })?;
        if let Some(dir) = Path::new(origin).parent() {
            if config.model.is_relative() {
                config.model = dir.join(&config.model);
            }
            if let Some(tls) = config.tls.as_mut() {
                tls.anchor(dir);
            }
            config.auth.anchor(dir);
        }
        config.validate(origin)?;
        Ok(config)
    }

    /// Fills the gaps of `export.otlp` from the `OTEL_*` variables `env`
    /// returns (pass `|k| std::env::var(k).ok()` in a binary), so the
    /// library itself never reads the environment. `origin` names the config
    /// file in errors.
    pub fn with_otel_env(
        mut self,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        self.export =
            self.export
                .with_env(env)
                .map_err(|(field, problem, fix)| ConfigError::Section {
                    file: origin.to_string(),
                    field,
                    problem,
                    fix,
                })?;
        Ok(self)
    }

    /// How the listeners are served: TLS unless `insecure.plaintext` says
    /// otherwise, and an error naming the field when neither is set. Parsing
    /// does not require it (a file may be checked piece by piece); starting
    /// does.
    pub fn transport(&self, origin: &str) -> Result<crate::trust::Transport, ConfigError> {
        crate::trust::transport(self.tls.as_ref(), &self.insecure, origin)
    }

    /// Whether the query API is guarded: `auth:` credentials, or
    /// `insecure.open_api`, exactly one of them. Checked at start, like
    /// [`Self::transport`].
    pub fn check_access(&self, origin: &str) -> Result<(), ConfigError> {
        crate::access::check_settings(&self.auth, self.insecure.open_api, origin)
    }

    /// Checks values that parse but cannot work. `origin` names the file (or
    /// the code) the config came from.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String, fix: &str| ConfigError::Invalid {
            file: origin.to_string(),
            field,
            problem,
            fix: fix.to_string(),
        };
        let e = &self.evaluation;
        let i = &self.ingest;
        if self.id.trim().is_empty() {
            return Err(invalid(
                "id",
                "is empty".into(),
                "name the aggregator, e.g. `id: hub-aggregator`, or remove the field",
            ));
        }
        if e.interval < Duration::from_millis(10) || e.interval > Duration::from_secs(3600) {
            return Err(invalid(
                "evaluation.interval",
                format!("{} is outside 10ms..1h", duration::format(e.interval)),
                "use a value such as `1s`",
            ));
        }
        if e.window < e.interval {
            return Err(invalid(
                "evaluation.window",
                format!(
                    "{} is shorter than evaluation.interval ({})",
                    duration::format(e.window),
                    duration::format(e.interval)
                ),
                "make the window at least one interval long, e.g. `60s`",
            ));
        }
        if e.window > Duration::from_secs(24 * 3600) {
            return Err(invalid(
                "evaluation.window",
                format!("{} is longer than 24h", duration::format(e.window)),
                "keep the live window short, e.g. `60s`; history belongs in the history store",
            ));
        }
        if e.staleness.is_zero() {
            return Err(invalid(
                "evaluation.staleness",
                "is zero, so every vantage would be Unknown".into(),
                "use a few probe intervals, e.g. `30s`",
            ));
        }
        if !(1..=100).contains(&e.hysteresis) {
            return Err(invalid(
                "evaluation.hysteresis",
                format!("{} is outside 1..=100", e.hysteresis),
                "use a small count such as `2` (1 disables hysteresis)",
            ));
        }
        if !(1..=10_000).contains(&e.recent_signals) {
            return Err(invalid(
                "evaluation.recent_signals",
                format!("{} is outside 1..=10000", e.recent_signals),
                "use a value such as `200`",
            ));
        }
        if let Some((field, problem, fix)) = self.attribution.problem() {
            return Err(invalid(field, problem, fix));
        }
        let section = |e: vigil_model::FieldError| ConfigError::Section {
            file: origin.to_string(),
            field: e.field,
            problem: e.problem,
            fix: e.fix,
        };
        self.export.validate().map_err(section)?;
        self.alerts.validate().map_err(section)?;
        if i.max_batch_signals == 0 {
            return Err(invalid(
                "ingest.max_batch_signals",
                "is zero, so every batch would be refused".into(),
                "use a value such as `10000`",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&i.max_message_bytes) {
            return Err(invalid(
                "ingest.max_message_bytes",
                format!("{} is outside 1024..=67108864", i.max_message_bytes),
                "use a value such as `4194304` (4 MiB)",
            ));
        }
        let h = &self.http;
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&h.header_timeout) {
            return Err(invalid(
                "http.header_timeout",
                format!(
                    "{} is outside 100ms..=10m",
                    duration::format(h.header_timeout)
                ),
                "use a value such as `10s`: long enough for a slow client, short enough that idle connections do not pile up",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&h.max_body_bytes) {
            return Err(invalid(
                "http.max_body_bytes",
                format!("{} is outside 1024..=67108864", h.max_body_bytes),
                "use a value such as `65536`",
            ));
        }
        if i.max_clock_skew.is_zero() {
            return Err(invalid(
                "ingest.max_clock_skew",
                "is zero, so any agent clock slightly ahead would be refused".into(),
                "use a value such as `5m`",
            ));
        }
        if !(1..=crate::ingest::MAX_PROBE_INDEX as usize + 1).contains(&i.max_probes_per_agent) {
            return Err(invalid(
                "ingest.max_probes_per_agent",
                format!(
                    "{} is outside 1..={}",
                    i.max_probes_per_agent,
                    crate::ingest::MAX_PROBE_INDEX as usize + 1
                ),
                "use a value such as `1000`: a few times the probes of your largest agent",
            ));
        }
        if i.max_streams == 0 {
            return Err(invalid(
                "ingest.max_streams",
                "is zero, so no agent could connect".into(),
                "use a value such as `20000`: above your agent count",
            ));
        }
        if i.max_streams_per_agent == 0 {
            return Err(invalid(
                "ingest.max_streams_per_agent",
                "is zero, so no agent could connect".into(),
                "use `2`: one stream and a reconnect racing it",
            ));
        }
        let r = &i.rate_limit;
        if !(r.signals_per_second.is_finite() && r.signals_per_second >= 1.0) {
            return Err(invalid(
                "ingest.rate_limit.signals_per_second",
                format!("{} is not a number of at least 1", r.signals_per_second),
                "use a value such as `2000`: well above an agent's probes per second",
            ));
        }
        if !(r.burst.is_finite() && r.burst >= 1.0) {
            return Err(invalid(
                "ingest.rate_limit.burst",
                format!("{} is not a number of at least 1", r.burst),
                "use a value such as `50000`: what an agent replays after an outage",
            ));
        }
        if r.max_delay > Duration::from_secs(60) {
            return Err(invalid(
                "ingest.rate_limit.max_delay",
                format!("{} is longer than 60s", duration::format(r.max_delay)),
                "use a value such as `2s`",
            ));
        }
        if i.max_signal_age < e.window {
            return Err(invalid(
                "ingest.max_signal_age",
                format!(
                    "{} is shorter than evaluation.window ({}), so replayed signals that still count would be refused",
                    duration::format(i.max_signal_age),
                    duration::format(e.window)
                ),
                "use a value such as `6h`",
            ));
        }
        Ok(())
    }
}
