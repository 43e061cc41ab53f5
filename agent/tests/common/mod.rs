//! Test helpers shared by the agent's integration tests: building one probe
//! from YAML and running it, and the real servers the probes are pointed at
//! (one submodule per kind of server). Each test file uses the part it
//! needs. Waiting with a deadline, the OTLP collector and promtool come from
//! `vigil-testkit`; what needs the agent's types stays here.
#![allow(dead_code)]

pub mod dns;
pub mod grpc;
pub mod net;
pub mod netns;
pub mod tls;
pub mod web;

use std::net::SocketAddr;

use vigil_agent::config::{AgentConfig, ProbeConfig};
use vigil_agent::probe::{self, Observation};
use vigil_testkit::net::{accepting_and_closing, closed_port};

/// One probe from the YAML lines of its kind-specific fields (indented by
/// four spaces), with a 5s interval and the given timeout.
pub fn probe_config(timeout: &str, body: &str) -> ProbeConfig {
    let text = format!(
        "agent: {{ id: t, network: test }}\nprobes:\n  - id: p\n    component: c\n    layer: platform_hub\n    interval: 5s\n    timeout: {timeout}\n{body}"
    );
    let mut config = AgentConfig::from_yaml(&text, "test.yaml")
        .unwrap_or_else(|e| panic!("test config does not parse: {e}"));
    config.probes.remove(0)
}

/// Builds and runs a probe once, as the scheduler would.
pub async fn run(config: &ProbeConfig) -> Observation {
    let p = probe::build(config).unwrap_or_else(|e| panic!("probe does not build: {e}"));
    probe::run_once(
        p.as_ref(),
        config.schedule.timeout,
        config.latency_threshold,
    )
    .await
}

/// Two TCP targets on loopback, one accepting and one refusing, and an
/// aggregator address where nothing listens (probes run regardless).
pub struct Targets {
    pub open: SocketAddr,
    pub closed: SocketAddr,
    pub aggregator: SocketAddr,
}

impl Targets {
    pub async fn start() -> Self {
        Self {
            open: accepting_and_closing().await,
            closed: closed_port().await,
            aggregator: closed_port().await,
        }
    }

    /// An agent probing both targets every 50 ms: `api-open`
    /// (checkout-api) and `api-closed` (orders-api). `agent` is the value of
    /// the `agent:` section; `extra` follows the probes (e.g. `export:`).
    pub fn agent_yaml(&self, agent: &str, extra: &str) -> String {
        format!(
            r#"
agent: {agent}
aggregator: {{ endpoint: "http://{aggregator}" }}
delivery: {{ backoff_initial: 50ms, backoff_max: 100ms }}
admin: {{ listen: "127.0.0.1:0" }}
defaults: {{ interval: 50ms, timeout: 40ms, jitter: 0 }}
probes:
  - id: api-open
    kind: tcp
    address: "{open}"
    component: checkout-api
    layer: workload_application
  - id: api-closed
    kind: tcp
    address: "{closed}"
    component: orders-api
    layer: workload_application
{extra}"#,
            aggregator = self.aggregator,
            open = self.open,
            closed = self.closed,
        )
    }
}
