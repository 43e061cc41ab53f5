//! Support for the end-to-end tests: start a real aggregator, real agents and
//! real targets on loopback, and wait on conditions with a deadline.
//!
//! Nothing here fakes a component: every helper starts the real thing. Tests
//! must never sleep for luck; they call [`eventually`] with a deadline.
#![forbid(unsafe_code)]

pub mod model;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use vigil_aggregator::{AggregatorConfig, AggregatorHandle};
use vigil_model::Model;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_proto::v1::{
    GetNodeRequest, GetNodeResponse, GetTreeRequest, GetTreeResponse, HealthState,
};

/// Polls `check` until it returns `Some`, or fails the test after `deadline`
/// with the last observation, so a failure says what was seen instead.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut last = String::from("never checked");
    while start.elapsed() < deadline {
        match check().await {
            Ok(v) => return v,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}");
}

/// Log to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// An aggregator configuration tuned for tests: fast evaluation, short window
/// and staleness, loopback ports chosen by the OS.
pub fn fast_aggregator_config() -> AggregatorConfig {
    let mut config = AggregatorConfig::default();
    config.listen.grpc = "127.0.0.1:0".parse().expect("addr");
    config.listen.http = "127.0.0.1:0".parse().expect("addr");
    config.evaluation.interval = Duration::from_millis(100);
    config.evaluation.window = Duration::from_secs(3);
    config.evaluation.staleness = Duration::from_secs(2);
    config.evaluation.hysteresis = 2;
    config
}

/// Starts a real aggregator with `model_yaml` and `config`.
pub async fn start_aggregator(model_yaml: &str, config: AggregatorConfig) -> AggregatorHandle {
    let model = Model::from_yaml(model_yaml, "test-model.yaml").expect("test model is valid");
    vigil_aggregator::Aggregator::start(config, model)
        .await
        .expect("aggregator starts")
}

/// A query client for the aggregator at `addr`.
pub async fn query_client(addr: SocketAddr) -> QueryServiceClient<tonic::transport::Channel> {
    QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("query client connects")
}

/// The whole tree, as on-call sees it.
pub async fn tree(addr: SocketAddr) -> Result<GetTreeResponse, String> {
    let mut client = QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    client
        .get_tree(GetTreeRequest {})
        .await
        .map(|r| r.into_inner())
        .map_err(|s| format!("GetTree: {s}"))
}

/// One node with its evidence.
pub async fn node(addr: SocketAddr, id: &str) -> Result<GetNodeResponse, String> {
    let mut client = QueryServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    client
        .get_node(GetNodeRequest {
            id: id.to_string(),
            recent_signals: 50,
        })
        .await
        .map(|r| r.into_inner())
        .map_err(|s| format!("GetNode {id}: {s}"))
}

/// The published state of node `id`, or an error naming what was seen.
pub async fn node_state(addr: SocketAddr, id: &str) -> Result<HealthState, String> {
    let t = tree(addr).await?;
    t.nodes
        .iter()
        .find(|n| n.id == id)
        .map(|n| n.state())
        .ok_or_else(|| format!("no node {id} in tree"))
}

/// Waits until node `id` is in `want`, failing with the last state seen.
pub async fn wait_state(addr: SocketAddr, id: &str, want: HealthState, deadline: Duration) {
    eventually(&format!("{id} to be {want:?}"), deadline, || async {
        let got = node_state(addr, id).await?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{id} is {got:?}"))
        }
    })
    .await
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

/// Starts a real agent from YAML text.
pub async fn start_agent(yaml: &str) -> vigil_agent::AgentHandle {
    let config =
        vigil_agent::AgentConfig::from_yaml(yaml, "test-agent.yaml").expect("valid agent config");
    vigil_agent::Agent::start(config)
        .await
        .expect("agent starts")
}
