//! Support for the end-to-end tests: start a real aggregator, real agents and
//! real targets on loopback. Waiting with a deadline and reading the tree over
//! the query API come from `vigil-testkit`; what needs the aggregator's or the
//! agent's types lives here.
//!
//! Nothing here fakes a component: every helper starts the real thing. Tests
//! must never sleep for luck; they call [`vigil_testkit::eventually`] with a
//! deadline.
#![forbid(unsafe_code)]

pub mod model;

use std::net::SocketAddr;

use vigil_aggregator::{AggregatorConfig, AggregatorHandle};
use vigil_model::Model;
use vigil_testkit::config::{Evaluation, aggregator_yaml};

/// Log to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// An aggregator configuration tuned for tests: fast evaluation, short window
/// and staleness ([`Evaluation::END_TO_END`]), loopback ports chosen by the OS.
pub fn fast_aggregator_config() -> AggregatorConfig {
    AggregatorConfig::from_yaml(&aggregator_yaml(&Evaluation::END_TO_END), "fast-test.yaml")
        .expect("the test config is valid")
}

/// Starts a real aggregator with `model_yaml` and `config`.
pub async fn start_aggregator(model_yaml: &str, config: AggregatorConfig) -> AggregatorHandle {
    let model = Model::from_yaml(model_yaml, "test-model.yaml").expect("test model is valid");
    vigil_aggregator::Aggregator::start(config, model)
        .await
        .expect("aggregator starts")
}

/// An agent config for tests: fast batching and backoff, admin on a free port.
pub fn agent_yaml(id: &str, network: &str, aggregator: SocketAddr, probes: &str) -> String {
    format!(
        r#"
agent:
  id: {id}
  network: {network}
  role: daemonset
  cluster: test-{network}
aggregator:
  endpoint: http://{aggregator}
  connect_timeout: 1s
delivery:
  batch_max_signals: 100
  batch_max_delay: 100ms
  buffer_max_signals: 10000
  backoff_initial: 50ms
  backoff_max: 300ms
admin:
  listen: 127.0.0.1:0
defaults:
  interval: 200ms
  timeout: 150ms
  jitter: 0.1
probes:
{probes}
"#
    )
}

/// The `hub-service` probe (TCP, platform hub) against `addr`, as a line of
/// [`agent_yaml`]'s `probes`.
pub fn tcp_probe(addr: SocketAddr) -> String {
    format!(
        "  - id: hub-service\n    kind: tcp\n    component: hub-service\n    layer: platform_hub\n    address: {addr}\n"
    )
}

/// The `kv-dns` probe (hub DNS resolving `kv.privatelink.test.`) against
/// `server`, as a line of [`agent_yaml`]'s `probes`.
pub fn dns_probe(server: SocketAddr) -> String {
    format!(
        "  - id: kv-dns\n    kind: dns\n    component: hub-dns\n    layer: platform_hub\n    name: kv.privatelink.test.\n    server: {server}\n"
    )
}

/// Starts a real agent from YAML text.
pub async fn start_agent(yaml: &str) -> vigil_agent::AgentHandle {
    let config =
        vigil_agent::AgentConfig::from_yaml(yaml, "test-agent.yaml").expect("valid agent config");
    vigil_agent::Agent::start(config)
        .await
        .expect("agent starts")
}
