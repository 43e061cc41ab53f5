//! The demo's configuration: the health model and the agent configs embedded
//! in the binary as YAML templates, filled in with the addresses of the
//! targets that were started, and the pace (how often things are probed and
//! evaluated).
//!
//! Owns rendering and the pace's numbers. It must not start anything; it
//! hands validated configs to whoever does.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use vigil_agent::AgentConfig;
use vigil_aggregator::config::{EvaluationConfig, ListenConfig};
use vigil_aggregator::{AggregatorConfig, AuthConfig, TlsConfig};
use vigil_model::Model;

use super::credentials::{DemoCredentials, TRUST_DOMAIN, agent_id};
use super::network::Spoke;
use super::topology::{SlowDelay, Targets};

const MODEL: &str = include_str!("templates/model.yaml");
const AGENT_HUB: &str = include_str!("templates/agent-hub.yaml");
const AGENT_SPOKE: &str = include_str!("templates/agent-spoke.yaml");

/// The source IP the "internet" echo sees from an agent on loopback: the
/// stand-in for the hub firewall's public egress IP.
const EGRESS_IP: &str = "127.0.0.1";

/// How fast the demo probes and evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// For people watching: probes every 2 s, a fault shows within seconds and
    /// clears about 15 s after restore.
    #[default]
    Human,
    /// For tests: probes every 250 ms, short windows.
    Fast,
}

struct PaceValues {
    probe_interval: &'static str,
    probe_timeout: &'static str,
    /// Workload responses slower than this fail as `slow`.
    slow_after: &'static str,
    slow_delay: Duration,
    batch_delay: &'static str,
    backoff_max: &'static str,
    eval_interval: Duration,
    window: Duration,
    staleness: Duration,
}

impl Pace {
    fn values(self) -> PaceValues {
        match self {
            Pace::Human => PaceValues {
                probe_interval: "2s",
                probe_timeout: "1500ms",
                slow_after: "500ms",
                slow_delay: Duration::from_millis(1000),
                batch_delay: "300ms",
                backoff_max: "2s",
                eval_interval: Duration::from_secs(1),
                window: Duration::from_secs(15),
                staleness: Duration::from_secs(6),
            },
            Pace::Fast => PaceValues {
                probe_interval: "250ms",
                probe_timeout: "200ms",
                slow_after: "120ms",
                slow_delay: Duration::from_millis(160),
                batch_delay: "100ms",
                backoff_max: "300ms",
                eval_interval: Duration::from_millis(100),
                window: Duration::from_secs(3),
                staleness: Duration::from_millis(1500),
            },
        }
    }

    /// How long a slow workload makes each request wait.
    pub fn slow_delay(self) -> SlowDelay {
        SlowDelay(self.values().slow_delay)
    }
}

/// Why an embedded config was refused. Always a defect of the binary, so the
/// message carries the validator's words verbatim.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("embedded template {template} still has placeholder {placeholder} after rendering")]
    Placeholder {
        template: &'static str,
        placeholder: String,
    },
    #[error("embedded demo model refused: {0}")]
    Model(vigil_model::ModelError),
    #[error("rendered agent config for {network} refused: {error}")]
    Agent {
        network: &'static str,
        error: vigil_agent::ConfigError,
    },
}

/// The embedded health model.
pub fn model() -> Result<Model, ConfigError> {
    Model::from_yaml(MODEL, "vigil demo model (embedded)").map_err(ConfigError::Model)
}

/// The aggregator's config: the given listen addresses, the pace's timing,
/// and the production trust path: TLS with the demo's certificate, agents
/// identified by theirs, the query API behind the demo's tokens.
pub fn aggregator(
    grpc: SocketAddr,
    http: SocketAddr,
    pace: Pace,
    credentials: &DemoCredentials,
) -> AggregatorConfig {
    let v = pace.values();
    let server = credentials.aggregator_dir();
    AggregatorConfig {
        id: "vigil-demo".to_owned(),
        listen: ListenConfig { grpc, http },
        evaluation: EvaluationConfig {
            interval: v.eval_interval,
            window: v.window,
            staleness: v.staleness,
            hysteresis: 2,
            ..EvaluationConfig::default()
        },
        tls: Some(TlsConfig {
            cert: server.join("tls.crt"),
            key: server.join("tls.key"),
            client_ca: credentials.ca_file(),
            trust_domain: TRUST_DOMAIN.to_owned(),
            subjects: Vec::new(),
            revoked: None,
            reload_interval: Duration::from_secs(5),
        }),
        auth: AuthConfig {
            tokens: credentials.token_sources(),
            reload_interval: Duration::from_secs(5),
            ..AuthConfig::default()
        },
        ..AggregatorConfig::default()
    }
}

/// Which agent: the hub's or a spoke's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Vantage {
    Hub,
    Spoke(Spoke),
}

impl Vantage {
    pub const ALL: [Vantage; 3] = [
        Vantage::Hub,
        Vantage::Spoke(Spoke::A),
        Vantage::Spoke(Spoke::B),
    ];

    pub fn network(self) -> &'static str {
        match self {
            Vantage::Hub => "hub",
            Vantage::Spoke(s) => s.network(),
        }
    }
}

/// The agent config for `vantage`, rendered from its template and validated.
pub fn agent(
    vantage: Vantage,
    aggregator: SocketAddr,
    targets: &Targets,
    pace: Pace,
    credentials: &DemoCredentials,
) -> Result<AgentConfig, ConfigError> {
    let (template, name) = match vantage {
        Vantage::Hub => (AGENT_HUB, "agent-hub.yaml"),
        Vantage::Spoke(_) => (AGENT_SPOKE, "agent-spoke.yaml"),
    };
    let tls_dir = credentials.agent_dir(vantage.network());
    let text = render_agent(vantage, aggregator, targets, pace, &tls_dir, template, name)?;
    AgentConfig::from_yaml(
        &text,
        &format!("vigil demo {name} for {}", vantage.network()),
    )
    .map_err(|error| ConfigError::Agent {
        network: vantage.network(),
        error,
    })
}

fn render_agent(
    vantage: Vantage,
    aggregator: SocketAddr,
    targets: &Targets,
    pace: Pace,
    tls_dir: &Path,
    template: &str,
    name: &'static str,
) -> Result<String, ConfigError> {
    let v = pace.values();
    let ip = |a: SocketAddr| a.ip().to_string();
    let mut vars: Vec<(&str, String)> = vec![
        ("AGGREGATOR", aggregator.to_string()),
        ("AGENT_ID", agent_id(vantage.network())),
        ("TLS_DIR", tls_dir.display().to_string()),
        ("BATCH_DELAY", v.batch_delay.to_owned()),
        ("BACKOFF_MAX", v.backoff_max.to_owned()),
        ("INTERVAL", v.probe_interval.to_owned()),
        ("TIMEOUT", v.probe_timeout.to_owned()),
        ("SLOW_AFTER", v.slow_after.to_owned()),
        ("DNS", targets.dns.addr().to_string()),
        ("HUB_SERVICE", targets.hub_service.addr().to_string()),
        ("HUB_SERVICE_IP", ip(targets.hub_service.addr())),
        ("FIREWALL", targets.firewall.addr().to_string()),
        ("ECHO", targets.echo.addr().to_string()),
        ("EGRESS_IP", EGRESS_IP.to_owned()),
        ("SENTINEL_A", targets.spoke_a.sentinel.addr().to_string()),
        ("SENTINEL_B", targets.spoke_b.sentinel.addr().to_string()),
        ("CHECKOUT_A", targets.spoke_a.checkout.addr().to_string()),
        ("CHECKOUT_B", targets.spoke_b.checkout.addr().to_string()),
        ("ORDERS_DB", targets.orders_db.addr().to_string()),
        ("ORDERS_DB_IP", ip(targets.orders_db.addr())),
        ("ORDERS_GRPC", targets.orders_grpc.addr().to_string()),
    ];
    if let Vantage::Spoke(spoke) = vantage {
        let other = match spoke {
            Spoke::A => Spoke::B,
            Spoke::B => Spoke::A,
        };
        vars.push(("SPOKE", spoke.network().to_owned()));
        vars.push(("OTHER_SPOKE", other.network().to_owned()));
        vars.push((
            "OTHER_SENTINEL",
            targets.spoke(other).sentinel.addr().to_string(),
        ));
    }
    render(template, name, &vars)
}

/// Replaces every `@NAME@` with its value; a placeholder left over is an
/// error rather than a config that silently points nowhere.
fn render(
    template: &str,
    name: &'static str,
    vars: &[(&str, String)],
) -> Result<String, ConfigError> {
    let mut text = template.to_owned();
    for (key, value) in vars {
        text = text.replace(&format!("@{key}@"), value);
    }
    if let Some(placeholder) = leftover_placeholder(&text) {
        return Err(ConfigError::Placeholder {
            template: name,
            placeholder,
        });
    }
    Ok(text)
}

/// The first `@UPPER_CASE@` token outside comments.
fn leftover_placeholder(text: &str) -> Option<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .find_map(|line| {
            let mut parts = line.split('@');
            parts.next();
            parts
                .find(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .map(|p| format!("@{p}@"))
        })
}

/// The address people type for a listener: 127.0.0.1 instead of 0.0.0.0.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), addr.port())
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_loads() {
        let model = model().expect("embedded model is valid");
        for id in [
            "hub-dns",
            "checkout",
            "checkout-spoke-a",
            "orders-db",
            "checkout-flow",
        ] {
            assert!(
                model.nodes().iter().any(|n| n.id == id),
                "model has no node {id}"
            );
        }
    }

    #[test]
    fn leftover_placeholders_are_refused() {
        let err = render("a: @X@\nb: @Y@\n", "t.yaml", &[("X", "1".into())]).unwrap_err();
        assert!(err.to_string().contains("@Y@"), "{err}");
        // Comments may mention placeholders; addresses with @ in them are not placeholders.
        let ok = render("# fill @X@\na: @X@\n", "t.yaml", &[("X", "1".into())]).unwrap();
        assert_eq!(ok, "# fill 1\na: 1\n");
        assert!(leftover_placeholder("# @NOT_A_VALUE@ in a comment\n").is_none());
    }
}
