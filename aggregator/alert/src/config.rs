//! The `alerts:` section of the aggregator config: receivers, routes, and the
//! grouping, repeat and flap settings.
//!
//! Owns parsing and validation, with errors that name the field and the fix.
//! It must not send anything.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use vigil_model::FieldError;
use vigil_model::duration;

/// `alerts:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Base URL of Vigil's HTTP API as on-call reaches it; alerts link to
    /// `{link}/api/v1/faults/{id}` and `{link}/api/v1/nodes/{id}`.
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub nodes: NodeAlerts,
    /// Labels whose values form a notification group.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// How long a receiver waits for more alerts of the same group before
    /// sending.
    #[serde(
        default = "default_group_wait",
        deserialize_with = "duration::deserialize"
    )]
    pub group_wait: Duration,
    #[serde(default)]
    pub flap: FlapConfig,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// `alerts.nodes`: alerts on node states, besides faults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeAlerts {
    /// Lowest state that fires: `degraded`, `unhealthy`, or `off`.
    #[serde(default = "default_min_state")]
    pub min_state: MinState,
    /// Also fire on Unknown (no data). Off by default: a silent agent is an
    /// observability gap, not a side's fault.
    #[serde(default)]
    pub unknown: bool,
    /// Nodes to watch; empty means every leaf.
    #[serde(default)]
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinState {
    Off,
    Degraded,
    Unhealthy,
}

/// `alerts.flap`: more than `max_changes` firing/resolved changes of one
/// alert within `window` hold its notifications until it has been stable
/// for `window`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapConfig {
    #[serde(
        default = "default_flap_window",
        deserialize_with = "duration::deserialize"
    )]
    pub window: Duration,
    #[serde(default = "default_flap_changes")]
    pub max_changes: u32,
}

/// One receiver: exactly one of `alertmanager`, `webhook`, `slack`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub alertmanager: Option<UrlConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    #[serde(default)]
    pub slack: Option<UrlConfig>,
    /// Notifications waiting for this receiver; when full, new ones are
    /// dropped (and counted) so a dead receiver never blocks anything.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Attempts after the first one fails.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay; doubles up to `max_backoff`.
    #[serde(
        default = "default_backoff",
        deserialize_with = "duration::deserialize"
    )]
    pub backoff: Duration,
    #[serde(
        default = "default_max_backoff",
        deserialize_with = "duration::deserialize"
    )]
    pub max_backoff: Duration,
    /// Timeout of one HTTP request.
    #[serde(
        default = "default_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub timeout: Duration,
    /// Re-send a still-firing alert this often. Default `1m` for
    /// Alertmanager (which resolves alerts it stops hearing about after its
    /// `resolve_timeout`, 5m by default), `4h` for the others.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub repeat_interval: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlConfig {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// HMAC-SHA256 key for the `X-Vigil-Signature` header.
    #[serde(default)]
    pub secret: Option<String>,
    /// Environment variable holding the key instead (read at start).
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// Which receiver kind a config names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverKind {
    Alertmanager { url: String },
    Webhook { url: String, secret: Option<String> },
    Slack { url: String },
}

/// One routing rule: alerts whose labels match go to `receivers`. Rules are
/// tried in order; the first match wins unless it says `continue: true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default, rename = "match")]
    pub matches: RouteMatch,
    pub receivers: Vec<String>,
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// Every given field must match one of its values; absent fields match all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    #[serde(default, deserialize_with = "one_or_many")]
    pub side: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub component: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub layer: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub network: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub severity: Vec<String>,
    /// `outage`, `intermittent`, `security_drift` or `node_state`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub kind: Vec<String>,
}

impl RouteMatch {
    /// The label each field matches, with its allowed values.
    pub fn fields(&self) -> [(&'static str, &[String]); 6] {
        [
            ("side", &self.side),
            ("component", &self.component),
            ("layer", &self.layer),
            ("network", &self.network),
            ("severity", &self.severity),
            ("kind", &self.kind),
        ]
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(de)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn default_group_by() -> Vec<String> {
    vec!["side".into(), "component".into()]
}
fn default_group_wait() -> Duration {
    Duration::from_secs(2)
}
fn default_min_state() -> MinState {
    MinState::Unhealthy
}
fn default_flap_window() -> Duration {
    Duration::from_secs(600)
}
fn default_flap_changes() -> u32 {
    4
}
fn default_queue() -> usize {
    256
}
fn default_retries() -> u32 {
    5
}
fn default_backoff() -> Duration {
    Duration::from_millis(500)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            link: None,
            nodes: NodeAlerts::default(),
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            flap: FlapConfig::default(),
            receivers: Vec::new(),
            routes: Vec::new(),
        }
    }
}

impl Default for NodeAlerts {
    fn default() -> Self {
        Self {
            min_state: default_min_state(),
            unknown: false,
            ids: Vec::new(),
        }
    }
}

impl Default for FlapConfig {
    fn default() -> Self {
        Self {
            window: default_flap_window(),
            max_changes: default_flap_changes(),
        }
    }
}

impl ReceiverConfig {
    /// A receiver of `kind` with default queue, retry and timing settings.
    pub fn new(name: &str, kind: ReceiverKind) -> Self {
        let mut r = Self {
            name: name.to_string(),
            alertmanager: None,
            webhook: None,
            slack: None,
            queue: default_queue(),
            retries: default_retries(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
            timeout: default_timeout(),
            repeat_interval: None,
        };
        match kind {
            ReceiverKind::Alertmanager { url } => r.alertmanager = Some(UrlConfig { url }),
            ReceiverKind::Slack { url } => r.slack = Some(UrlConfig { url }),
            ReceiverKind::Webhook { url, secret } => {
                r.webhook = Some(WebhookConfig {
                    url,
                    secret,
                    secret_env: None,
                });
            }
        }
        r
    }

    /// The receiver's kind, with a webhook secret read from `env` when the
    /// config names a variable.
    pub fn kind(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<ReceiverKind, String> {
        match (&self.alertmanager, &self.webhook, &self.slack) {
            (Some(a), None, None) => Ok(ReceiverKind::Alertmanager { url: a.url.clone() }),
            (None, None, Some(s)) => Ok(ReceiverKind::Slack { url: s.url.clone() }),
            (None, Some(w), None) => {
                let secret = match (&w.secret, &w.secret_env) {
                    (Some(s), None) => Some(s.clone()),
                    (None, Some(var)) => {
                        Some(env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                            format!("environment variable `{var}` (webhook.secret_env) is not set")
                        })?)
                    }
                    (None, None) => None,
                    (Some(_), Some(_)) => {
                        return Err("both webhook.secret and webhook.secret_env are set".into());
                    }
                };
                Ok(ReceiverKind::Webhook {
                    url: w.url.clone(),
                    secret,
                })
            }
            _ => Err("needs exactly one of `alertmanager`, `webhook`, `slack`".into()),
        }
    }

    /// The effective repeat interval.
    pub fn repeat(&self) -> Duration {
        self.repeat_interval
            .unwrap_or(if self.alertmanager.is_some() {
                Duration::from_secs(60)
            } else {
                Duration::from_secs(4 * 3600)
            })
    }
}

const LABELS: [&str; 9] = [
    "alertname",
    "side",
    "component",
    "node",
    "network",
    "layer",
    "severity",
    "kind",
    "fault_id",
];

impl AlertsConfig {
    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), FieldError> {
        let bad = |field: String, problem: String, fix: &str| FieldError {
            field,
            problem,
            fix: fix.to_string(),
        };
        if let Some(link) = &self.link
            && !(link.starts_with("http://") || link.starts_with("https://"))
        {
            return Err(bad(
                "alerts.link".into(),
                format!("`{link}` is not an http(s) URL"),
                "write the URL on-call opens, e.g. `https://vigil.example.net`",
            ));
        }
        for label in &self.group_by {
            if !LABELS.contains(&label.as_str()) {
                return Err(bad(
                    "alerts.group_by".into(),
                    format!("`{label}` is not an alert label"),
                    "use labels among alertname, side, component, node, network, layer, severity, kind, fault_id",
                ));
            }
        }
        if self.group_wait > Duration::from_secs(300) {
            return Err(bad(
                "alerts.group_wait".into(),
                format!("{} is longer than 5m", duration::format(self.group_wait)),
                "use a few seconds, e.g. `2s`",
            ));
        }
        if self.flap.max_changes == 0 {
            return Err(bad(
                "alerts.flap.max_changes".into(),
                "is zero, so every alert would count as flapping".into(),
                "use a value such as `4`",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let at = |f: &str| format!("alerts.receivers[{i}].{f}");
            if r.name.trim().is_empty() {
                return Err(bad(
                    at("name"),
                    "is empty".into(),
                    "name the receiver, e.g. `platform-pager`",
                ));
            }
            if !names.insert(r.name.as_str()) {
                return Err(bad(
                    at("name"),
                    format!("`{}` is used by two receivers", r.name),
                    "give every receiver its own name",
                ));
            }
            // The environment is read at start; here only the shape counts.
            let kind = r.kind(&|_| Some("set".into())).map_err(|p| {
                bad(
                    format!("alerts.receivers[{i}] ({})", r.name),
                    p,
                    "write one of `alertmanager: {url: ...}`, `webhook: {url: ...}`, `slack: {url: ...}`",
                )
            })?;
            let url = match &kind {
                ReceiverKind::Alertmanager { url }
                | ReceiverKind::Webhook { url, .. }
                | ReceiverKind::Slack { url } => url,
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(
                    format!("alerts.receivers[{i}] ({}) url", r.name),
                    format!("`{url}` is not an http(s) URL"),
                    "write the full URL with its scheme, e.g. `http://alertmanager:9093`",
                ));
            }
            if !(1..=100_000).contains(&r.queue) {
                return Err(bad(
                    at("queue"),
                    format!("{} is outside 1..=100000", r.queue),
                    "use a value such as `256`",
                ));
            }
            if r.retries > 100 {
                return Err(bad(
                    at("retries"),
                    format!("{} is more than 100", r.retries),
                    "use a value such as `5`",
                ));
            }
            if r.backoff.is_zero() || r.max_backoff < r.backoff {
                return Err(bad(
                    at("backoff"),
                    format!(
                        "backoff {} must be above zero and not above max_backoff {}",
                        duration::format(r.backoff),
                        duration::format(r.max_backoff)
                    ),
                    "use e.g. `backoff: 500ms` and `max_backoff: 30s`",
                ));
            }
            if r.timeout.is_zero() {
                return Err(bad(
                    at("timeout"),
                    "is zero".into(),
                    "use a value such as `5s`",
                ));
            }
            if r.repeat().is_zero() {
                return Err(bad(
                    at("repeat_interval"),
                    "is zero".into(),
                    "use e.g. `1m` for Alertmanager, `4h` for chat",
                ));
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            if route.receivers.is_empty() {
                return Err(bad(
                    format!("alerts.routes[{i}].receivers"),
                    "is empty".into(),
                    "name at least one receiver from `alerts.receivers`",
                ));
            }
            for name in &route.receivers {
                if !names.contains(name.as_str()) {
                    return Err(bad(
                        format!("alerts.routes[{i}].receivers"),
                        format!("`{name}` is not a receiver"),
                        "name a receiver declared under `alerts.receivers`",
                    ));
                }
            }
            for (label, values) in route.matches.fields() {
                if let Some(v) = values.iter().find(|v| v.trim().is_empty()) {
                    return Err(bad(
                        format!("alerts.routes[{i}].match.{label}"),
                        format!("contains an empty value `{v}`"),
                        "remove it, or list the values to match",
                    ));
                }
            }
        }
        if !self.receivers.is_empty() && self.routes.is_empty() {
            return Err(bad(
                "alerts.routes".into(),
                "is empty, so no alert would reach any receiver".into(),
                "add a route, e.g. `- match: {side: platform}\\n  receivers: [platform-pager]`",
            ));
        }
        Ok(())
    }
}
