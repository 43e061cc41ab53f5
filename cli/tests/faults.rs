//! `vigil faults`, `vigil fault ID` and `vigil why NODE` against a real gRPC
//! FaultService on a loopback socket: the library client, and the binary's
//! output and exit codes.

mod common;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use vigil_client::{ClientError, QueryClient};
use vigil_proto::v1::fault_service_server::{FaultService, FaultServiceServer};
use vigil_proto::v1::{
    Certainty, ErrorClass, Fault, FaultEvidence, FaultKind, GetFaultRequest, GetFaultResponse,
    HealthNode, HealthState, ListFaultsRequest, ListFaultsResponse, ObservabilityGap, Side,
    WhyNodeRequest, WhyNodeResponse,
};

const OPENED: i64 = 1_700_000_000_000;
const TIMEOUT: Duration = Duration::from_secs(5);

/// A FaultService with one open platform fault, one resolved workload fault
/// and one silent agent: enough to exercise the client and the renderers end
/// to end without the aggregator.
struct FixedFaults;

fn hub_dns() -> Fault {
    Fault {
        id: "F-000007".into(),
        side: Side::Platform as i32,
        suspect: "platform/hub/hub-dns".into(),
        kind: FaultKind::Outage as i32,
        certainty: Certainty::Attributed as i32,
        confidence: 0.93,
        summary: "hub DNS fails from spoke-a and spoke-b".into(),
        evidence: ["spoke-a", "spoke-b"]
            .iter()
            .enumerate()
            .map(|(i, network)| FaultEvidence {
                agent_id: format!("agent-{}", i + 1),
                network: (*network).into(),
                probe_id: "kv-dns".into(),
                target: "kv.privatelink.test".into(),
                signals: 12,
                failures: 12,
                error_class: ErrorClass::DnsServfail as i32,
                example: "SERVFAIL".into(),
            })
            .collect(),
        counter_evidence: vec![FaultEvidence {
            agent_id: "agent-hub".into(),
            network: "hub".into(),
            probe_id: "fw-tcp".into(),
            target: "10.0.1.4:443".into(),
            signals: 12,
            ..Default::default()
        }],
        networks: vec!["spoke-a".into(), "spoke-b".into()],
        impact: vec!["checkout-api".into()],
        opened_at_unix_ms: OPENED,
        updated_at_unix_ms: OPENED,
        ..Default::default()
    }
}

fn resolved_crash() -> Fault {
    Fault {
        id: "F-000003".into(),
        side: Side::Workload as i32,
        suspect: "workload/checkout-api".into(),
        kind: FaultKind::Outage as i32,
        certainty: Certainty::Attributed as i32,
        confidence: 0.99,
        opened_at_unix_ms: OPENED - 600_000,
        closed_at_unix_ms: OPENED - 300_000,
        ..Default::default()
    }
}

fn silent() -> ObservabilityGap {
    ObservabilityGap {
        agent_id: "agent-9".into(),
        network: "spoke-c".into(),
    }
}

#[tonic::async_trait]
impl FaultService for FixedFaults {
    async fn list_faults(
        &self,
        req: Request<ListFaultsRequest>,
    ) -> Result<Response<ListFaultsResponse>, Status> {
        let mut faults = vec![hub_dns()];
        if req.into_inner().include_resolved {
            faults.push(resolved_crash());
        }
        Ok(Response::new(ListFaultsResponse {
            faults,
            gaps: vec![silent()],
            evaluated_at_unix_ms: OPENED + 60_000,
        }))
    }

    async fn get_fault(
        &self,
        req: Request<GetFaultRequest>,
    ) -> Result<Response<GetFaultResponse>, Status> {
        let id = req.into_inner().id;
        [hub_dns(), resolved_crash()]
            .into_iter()
            .find(|f| f.id == id)
            .map(|f| Response::new(GetFaultResponse { fault: Some(f) }))
            .ok_or_else(|| Status::not_found(format!("no fault {id}")))
    }

    async fn why_node(
        &self,
        req: Request<WhyNodeRequest>,
    ) -> Result<Response<WhyNodeResponse>, Status> {
        let id = req.into_inner().id;
        if id != "checkout-api" {
            return Err(Status::not_found(format!("no node {id}")));
        }
        Ok(Response::new(WhyNodeResponse {
            node: Some(HealthNode {
                id: "checkout-api".into(),
                name: "Checkout API".into(),
                owner: Side::Workload as i32,
                state: HealthState::Unhealthy as i32,
                score: 5,
                reason: "3/3 vantages failing".into(),
                ..Default::default()
            }),
            path: vec!["root".into(), "workload".into(), "checkout-api".into()],
            faults: vec![hub_dns()],
            gaps: vec![silent()],
        }))
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

/// Serves the fixed faults, or, with `with_faults` false, only the gRPC health
/// service: an aggregator that predates fault attribution.
async fn start_server(with_faults: bool) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (_, health) = tonic_health::server::health_reporter();
    let mut router = tonic::transport::Server::builder().add_service(health);
    if with_faults {
        router = router.add_service(FaultServiceServer::new(FixedFaults));
    }
    tokio::spawn(
        router.serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
            let _ = stopped.await;
        }),
    );
    TestServer {
        url: format!("http://{addr}"),
        stop: Some(stop),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_lists_gets_and_explains() {
    let server = start_server(true).await;
    let mut client = QueryClient::connect(&server.url, TIMEOUT).await.unwrap();

    let open = client.faults(false).await.unwrap();
    assert_eq!(open.faults.len(), 1);
    assert_eq!(open.faults[0].id, "F-000007");
    assert_eq!(open.gaps.len(), 1);
    let all = client.faults(true).await.unwrap();
    assert_eq!(all.faults.len(), 2);

    let fault = client.fault("F-000007").await.unwrap();
    assert_eq!(fault.fault.unwrap().evidence.len(), 2);
    let err = client.fault("F-999999").await.unwrap_err();
    assert!(matches!(err, ClientError::FaultNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no fault 'F-999999'; `vigil faults` lists the ids"
    );
    assert_eq!(err.exit_code(), 1);

    let why = client.why("checkout-api").await.unwrap();
    assert_eq!(why.node.unwrap().id, "checkout-api");
    assert_eq!(why.faults[0].id, "F-000007");
    let err = client.why("nope").await.unwrap_err();
    assert!(matches!(err, ClientError::NodeNotFound { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_without_fault_attribution_is_named() {
    let server = start_server(false).await;
    let mut client = QueryClient::connect(&server.url, TIMEOUT).await.unwrap();
    let err = client.faults(false).await.unwrap_err();
    assert!(matches!(err, ClientError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("vigil.v1.FaultService"), "{err}");
    assert_eq!(err.exit_code(), 1);
    let err = client.why("checkout-api").await.unwrap_err();
    assert!(matches!(err, ClientError::Unsupported { .. }), "{err:?}");
}

/// Runs the `vigil` binary against `server` with `args`.
async fn vigil(server: &str, args: &[&str]) -> common::Run {
    let mut all = vec!["--server", server];
    all.extend_from_slice(args);
    common::vigil(&all, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_lists_faults_platform_first_with_blind_spots() {
    let server = start_server(true).await;
    let run = vigil(&server.url, &["faults"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("1 open fault · 1 platform · evaluated "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "\nF-000007  platform · hub dns (platform/hub/hub-dns)  outage · confidence 0.93  since 2023-11-14T22:13:20Z ("
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "  ✗  spoke-a  agent-1  kv-dns → kv.privatelink.test  12/12 failed  dns_servfail  \"SERVFAIL\"\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  impact: workload checkout-api\n"));
    assert!(
        run.stdout
            .contains("blind spots: silent agents, blamed on no side\n  ?  agent-9  spoke-c"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("F-000003"), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'));

    let all = vigil(&server.url, &["faults", "--all"]).await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    let platform = all.stdout.find("\nF-000007").expect("open fault");
    let resolved = all.stdout.find("\nF-000003").expect("resolved fault");
    assert!(platform < resolved, "{}", all.stdout);
    assert!(all.stdout.contains("· 1 resolved ·"), "{}", all.stdout);

    let coloured = vigil(&server.url, &["--color", "always", "faults"]).await;
    assert!(
        coloured.stdout.contains("\x1b[35mplatform\x1b[0m"),
        "{}",
        coloured.stdout
    );

    let json = vigil(&server.url, &["faults", "--all", "--output", "json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["faults"][0]["id"], "F-000007");
    assert_eq!(json["faults"][0]["side"], "platform");
    assert_eq!(json["faults"][0]["evidence"][1]["network"], "spoke-b");
    assert_eq!(json["faults"][1]["status"], "resolved");
    assert_eq!(json["gaps"][0]["agent_id"], "agent-9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_shows_one_fault_and_refuses_an_unknown_one() {
    let server = start_server(true).await;
    let run = vigil(&server.url, &["fault", "F-000007"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("F-000007  platform"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  ✓  hub  agent-hub  fw-tcp → 10.0.1.4:443  0/12 failed\n"),
        "{}",
        run.stdout
    );

    let json = vigil(&server.url, &["-o", "json", "fault", "F-000007"]).await;
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        json["fault"]["counter_evidence"][0]["agent_id"],
        "agent-hub"
    );

    let missing = vigil(&server.url, &["fault", "F-999999"]).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stdout.is_empty(), "{}", missing.stdout);
    assert!(
        missing
            .stderr
            .contains("no fault 'F-999999'; `vigil faults` lists the ids"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_answers_is_it_us_on_the_first_line() {
    let server = start_server(true).await;
    let run = vigil(&server.url, &["why", "checkout-api"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().next(),
        Some(
            "checkout-api is UNHEALTHY because of a platform fault: \
             F-000007 hub dns (platform/hub/hub-dns) (confidence 0.93)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("path     root › workload › checkout-api")
    );
    assert!(
        run.stdout.contains("\nF-000007  platform · "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("agent-9  spoke-c"), "{}", run.stdout);

    let json = vigil(&server.url, &["why", "checkout-api", "--output", "json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["verdict"], "platform");
    assert_eq!(json["node"]["state"], "unhealthy");
    assert_eq!(json["faults"][0]["suspect"], "platform/hub/hub-dns");

    let missing = vigil(&server.url, &["why", "nope"]).await;
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
async fn binary_exits_1_when_the_aggregator_lacks_fault_attribution() {
    let server = start_server(false).await;
    let run = vigil(&server.url, &["faults"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("does not serve fault attribution"),
        "{}",
        run.stderr
    );
}
