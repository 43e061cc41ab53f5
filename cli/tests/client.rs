//! The on-call client against a real gRPC QueryService on a loopback socket:
//! the library client, and the `vigil` binary's output and exit codes.

mod common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use common::vigil;
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use vigil_client::{ClientError, QueryClient};
use vigil_proto::v1::query_service_server::{QueryService, QueryServiceServer};
use vigil_proto::v1::{
    ErrorClass, GetNodeRequest, GetNodeResponse, GetTreeRequest, GetTreeResponse, HealthNode,
    HealthState, Layer, LayerScore, NodeChange, Outcome, ProbeKind, Side, SignalView, Vantage,
    VantageHealth, WatchChangesRequest, WatchChangesResponse,
};

/// A QueryService that serves a fixed tree: enough to exercise the client and
/// the renderers end to end without the aggregator.
struct FixedTree;

fn node(id: &str, parent: &str, children: &[&str], state: HealthState, score: u32) -> HealthNode {
    HealthNode {
        id: id.into(),
        name: format!("{id} node"),
        state: state as i32,
        score,
        children: children.iter().map(|c| (*c).to_owned()).collect(),
        parent: parent.into(),
        ..Default::default()
    }
}

fn tree() -> GetTreeResponse {
    let mut dns = node("hub-dns", "platform", &[], HealthState::Unhealthy, 0);
    dns.layer = Layer::PlatformHub as i32;
    dns.owner = Side::Platform as i32;
    dns.reason = "dns_timeout from every spoke".into();
    GetTreeResponse {
        nodes: vec![
            node(
                "root",
                "",
                &["platform", "workload"],
                HealthState::Unhealthy,
                50,
            ),
            node("platform", "root", &["hub-dns"], HealthState::Unhealthy, 0),
            dns,
            node("workload", "root", &[], HealthState::Healthy, 100),
        ],
        layers: vec![LayerScore {
            name: "overall".into(),
            score: 50,
            state: HealthState::Unhealthy as i32,
        }],
        evaluated_at_unix_ms: 1_700_000_000_000,
        generation: 4,
    }
}

#[tonic::async_trait]
impl QueryService for FixedTree {
    async fn get_tree(
        &self,
        _: Request<GetTreeRequest>,
    ) -> Result<Response<GetTreeResponse>, Status> {
        Ok(Response::new(tree()))
    }

    async fn get_node(
        &self,
        req: Request<GetNodeRequest>,
    ) -> Result<Response<GetNodeResponse>, Status> {
        let req = req.into_inner();
        let Some(n) = tree().nodes.into_iter().find(|n| n.id == req.id) else {
            return Err(Status::not_found(format!("no node {}", req.id)));
        };
        Ok(Response::new(GetNodeResponse {
            node: Some(n),
            path: vec!["root".into(), "platform".into(), "hub-dns".into()],
            vantages: vec![VantageHealth {
                agent_id: "agent-spoke-a".into(),
                vantage: Some(Vantage {
                    network: "spoke-a".into(),
                    ..Default::default()
                }),
                state: HealthState::Unhealthy as i32,
                signals: 3,
                failures: 3,
                agent_connected: true,
                last_seen_unix_ms: 1_700_000_000_000,
                ..Default::default()
            }],
            recent_signals: vec![SignalView {
                agent_id: "agent-spoke-a".into(),
                network: "spoke-a".into(),
                probe_id: "dns-vault".into(),
                kind: ProbeKind::Dns as i32,
                outcome: Outcome::Failure as i32,
                error_class: ErrorClass::DnsTimeout as i32,
                latency_us: 2_000_000,
                observed_at_unix_ms: 1_700_000_000_000,
                ..Default::default()
            }]
            .into_iter()
            .take(req.recent_signals as usize)
            .collect(),
        }))
    }

    type WatchChangesStream =
        Pin<Box<dyn Stream<Item = Result<WatchChangesResponse, Status>> + Send + 'static>>;

    async fn watch_changes(
        &self,
        _: Request<WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let snapshot = WatchChangesResponse {
            generation: 4,
            evaluated_at_unix_ms: 1_700_000_000_000,
            changes: tree()
                .nodes
                .iter()
                .map(|n| NodeChange {
                    id: n.id.clone(),
                    previous_state: HealthState::Unspecified as i32,
                    state: n.state,
                    score: n.score,
                    reason: n.reason.clone(),
                })
                .collect(),
            layers: vec![],
            snapshot: true,
            faults: vec![],
        };
        let change = WatchChangesResponse {
            generation: 5,
            evaluated_at_unix_ms: 1_700_000_001_000,
            changes: vec![NodeChange {
                id: "hub-dns".into(),
                previous_state: HealthState::Unhealthy as i32,
                state: HealthState::Healthy as i32,
                score: 100,
                reason: "recovered".into(),
            }],
            layers: vec![],
            snapshot: false,
            faults: vec![],
        };
        // Ends after two messages, so the binary's end-of-stream path is tested too.
        let stream = futures::stream::iter([Ok(snapshot), Ok(change)]);
        Ok(Response::new(Box::pin(stream)))
    }
}

struct TestServer {
    url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start_server() -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(QueryServiceServer::new(FixedTree))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    TestServer {
        url: format!("http://{addr}"),
        stop: Some(stop),
    }
}

/// An address where nothing listens: bound, then released.
async fn closed_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reads_tree_node_and_changes() {
    let server = start_server().await;
    let mut client = QueryClient::connect(&server.url, TIMEOUT).await.unwrap();

    let tree = client.tree().await.unwrap();
    assert_eq!(tree.nodes.len(), 4);
    assert_eq!(tree.generation, 4);

    let node = client.node("hub-dns", 20).await.unwrap();
    assert_eq!(node.node.unwrap().id, "hub-dns");
    assert_eq!(node.recent_signals.len(), 1);

    let err = client.node("nope", 20).await.unwrap_err();
    assert!(matches!(err, ClientError::NodeNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no node 'nope'; `vigil tree` lists the ids"
    );
    assert_eq!(err.exit_code(), 1);

    let mut changes = client.watch().await.unwrap();
    let first = changes.next().await.unwrap().unwrap();
    assert!(first.snapshot);
    assert_eq!(first.changes.len(), 4);
    let second = changes.next().await.unwrap().unwrap();
    assert!(!second.snapshot);
    assert_eq!(second.changes[0].id, "hub-dns");
    assert!(changes.next().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reports_an_unreachable_aggregator() {
    let addr = closed_addr().await;
    let url = format!("http://{addr}");
    let err = QueryClient::connect(&url, TIMEOUT).await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach the aggregator at {url}: ")),
        "{text}"
    );
    // The cause is spelled out, not just "transport error".
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_the_tree() {
    let server = start_server().await;
    let run = vigil(&["--server", &server.url, "tree"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("overall 50 unhealthy\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\n├── platform "), "{}", run.stdout);
    assert!(run.stdout.contains("\n│   └── hub-dns "), "{}", run.stdout);
    assert!(run.stdout.contains("dns_timeout from every spoke"));
    // stdout is a pipe here: no colour under `auto`.
    assert!(!run.stdout.contains('\x1b'));

    let coloured = vigil(&["--server", &server.url, "--color", "always", "tree"], &[]).await;
    assert!(
        coloured.stdout.contains("\x1b[31munhealthy\x1b[0m"),
        "{}",
        coloured.stdout
    );
    // NO_COLOR does not override an explicit flag...
    let flagged = vigil(
        &["--server", &server.url, "--color", "always", "tree"],
        &[("NO_COLOR", "1")],
    )
    .await;
    assert!(flagged.stdout.contains('\x1b'));
    // ...and `never` wins over everything.
    let never = vigil(&["--server", &server.url, "tree", "--color", "never"], &[]).await;
    assert!(!never.stdout.contains('\x1b'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_speaks_json_and_reads_vigil_server() {
    let server = start_server().await;
    let run = vigil(
        &["tree", "--output", "json"],
        &[("VIGIL_SERVER", &server.url)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["nodes"][2]["id"], "hub-dns");
    assert_eq!(json["nodes"][2]["layer"], "platform_hub");
    assert_eq!(json["nodes"][2]["state"], "unhealthy");

    let run = vigil(
        &["-o", "json", "node", "hub-dns"],
        &[("VIGIL_SERVER", &server.url)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["node"]["owner"], "platform");
    assert_eq!(json["vantages"][0]["network"], "spoke-a");
    assert_eq!(json["recent_signals"][0]["error_class"], "dns_timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_explains_a_node_and_refuses_an_unknown_one() {
    let server = start_server().await;
    let run = vigil(&["--server", &server.url, "node", "hub-dns"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("hub-dns  hub-dns node\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("path     root › platform › hub-dns"));
    assert!(run.stdout.contains("agent-spoke-a"));
    assert!(run.stdout.contains("dns_timeout"));

    let missing = vigil(&["--server", &server.url, "node", "nope"], &[]).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stdout.is_empty());
    assert!(
        missing
            .stderr
            .contains("no node 'nope'; `vigil tree` lists the ids"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_watch_prints_one_line_per_change() {
    let server = start_server().await;
    let run = vigil(&["--server", &server.url, "watch", "--output", "json"], &[]).await;
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{}", run.stdout);
    assert!(lines[..4].iter().all(|l| l["snapshot"] == true));
    assert_eq!(lines[4]["id"], "hub-dns");
    assert_eq!(lines[4]["previous_state"], "unhealthy");
    assert_eq!(lines[4]["state"], "healthy");
    // The test server ends the stream; the command says so and fails.
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("ended the change stream"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_exits_2_when_the_aggregator_is_unreachable() {
    let addr = closed_addr().await;
    let url = format!("http://{addr}");
    let run = vigil(&["--server", &url, "tree"], &[]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains(&format!("cannot reach the aggregator at {url}: ")),
        "{}",
        run.stderr
    );
    let bad = vigil(&["--server", "127.0.0.1:1", "tree"], &[]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("invalid server URL"), "{}", bad.stderr);
}
