//! Who may ask, over real sockets: an aggregator whose `auth:` section
//! lists a read and an admin token in files. Without a token, with an
//! unknown one or a malformed header, the HTTP API answers 401 with
//! `WWW-Authenticate` and gRPC `UNAUTHENTICATED`; a read token reads but
//! cannot change anything (403); `/healthz`, `/readyz` and gRPC health stay
//! open for the kubelet; every refusal is counted on `/metrics`; a rewritten
//! token file is picked up without a restart; and a config with neither
//! credentials nor `insecure.open_api` does not start.

mod feed;

use std::net::SocketAddr;
use std::path::PathBuf;

use feed::{DEADLINE, Feeder, model};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use vigil_aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use vigil_proto::v1::GetTreeRequest;
use vigil_proto::v1::query_service_client::QueryServiceClient;
use vigil_testkit::config::{Evaluation, OPEN, aggregator_yaml_with};
use vigil_testkit::exposition::{Scrape, find, number, parse};
use vigil_testkit::wait::eventually;

const READ: &str = "read-token-0123456789abcdef";
const ADMIN: &str = "admin-token-0123456789abcdef";

struct Setup {
    dir: PathBuf,
    agg: AggregatorHandle,
}

fn security(dir: &std::path::Path, metrics: &str) -> String {
    format!(
        "insecure:\n  plaintext: true\nauth:\n  tokens:\n    \
         - {{name: oncall, scope: read, file: {0}/read}}\n    \
         - {{name: platform, scope: admin, file: {0}/admin}}\n  \
         metrics: {metrics}\n  reload_interval: 100ms\n",
        dir.display()
    )
}

/// An aggregator on loopback (plaintext: TLS is `trust.rs`'s subject)
/// accepting `READ` and `ADMIN` from `dir/read` and `dir/admin`.
async fn start(test: &str, metrics: &str) -> Setup {
    let dir = vigil_testkit::scratch::dir("access", test);
    std::fs::write(dir.join("read"), format!("{READ}\n")).unwrap();
    std::fs::write(dir.join("admin"), ADMIN).unwrap();
    let yaml = aggregator_yaml_with(&Evaluation::FAST, &security(&dir, metrics));
    let config = AggregatorConfig::from_yaml(&yaml, "access-test.yaml").unwrap();
    let agg = Aggregator::start(config, model()).await.unwrap();
    Setup { dir, agg }
}

/// `method path` with `token` as a bearer credential, if any: status,
/// `WWW-Authenticate` (empty if none) and body.
async fn http(
    addr: SocketAddr,
    method: reqwest::Method,
    path: &str,
    authorization: Option<&str>,
) -> (u16, String, String) {
    let mut request = reqwest::Client::new().request(method, format!("http://{addr}{path}"));
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    let response = request.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, response.text().await.unwrap())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `vigil_api_denied_total{api, reason}` on a parsed page, if present.
fn denied(page: &Scrape, api: &str, reason: &str) -> Option<f64> {
    find(
        page,
        "vigil_api_denied_total",
        &[("api", api), ("reason", reason)],
    )
    .map(number)
}

async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String, String) {
    let authorization = token.map(bearer);
    http(addr, reqwest::Method::GET, path, authorization.as_deref()).await
}

/// `GetTree` over gRPC with `token`, if any.
async fn grpc_tree(addr: SocketAddr, token: Option<&str>) -> Result<(), tonic::Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("gRPC connect");
    let header: Option<MetadataValue<_>> = token.map(|t| bearer(t).parse().unwrap());
    let mut client =
        QueryServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            if let Some(h) = &header {
                r.metadata_mut().insert("authorization", h.clone());
            }
            Ok(r)
        });
    client.get_tree(GetTreeRequest {}).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_needs_a_token_and_a_read_token_only_reads() {
    let s = start("http", "token").await;
    let addr = s.agg.http_addr();

    for (authorization, what) in [
        (None, "no token"),
        (
            Some(bearer("not-a-token-anyone-was-given")),
            "an unknown token",
        ),
        (Some(format!("Basic {READ}")), "another scheme"),
        (Some("Bearer".to_owned()), "an empty bearer"),
    ] {
        let (status, challenge, body) = http(
            addr,
            reqwest::Method::GET,
            "/api/v1/tree",
            authorization.as_deref(),
        )
        .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
        let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(error["error"].is_string(), "{what}: {body}");
    }

    for token in [READ, ADMIN] {
        let (status, _, body) = get(addr, "/api/v1/tree", Some(token)).await;
        assert_eq!(status, 200, "{body}");
        let tree: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(tree.is_object(), "{body}");
        let (status, _, body) = get(addr, "/api/v1/faults", Some(token)).await;
        assert_eq!(status, 200, "{body}");
    }

    // Anything but a read needs admin: a read token is refused before the
    // route is even looked up; an admin token reaches it.
    let read = bearer(READ);
    let (status, challenge, body) =
        http(addr, reqwest::Method::POST, "/api/v1/tree", Some(&read)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        challenge.is_empty(),
        "403 is not a challenge: {challenge:?}"
    );
    assert!(body.contains("admin"), "{body}");
    let admin = bearer(ADMIN);
    let (status, _, _) = http(addr, reqwest::Method::POST, "/api/v1/tree", Some(&admin)).await;
    assert_eq!(status, 405, "admin passes the guard; the route reads only");

    // The kubelet's probes carry no token.
    for path in ["/healthz", "/readyz"] {
        let (status, _, body) = get(addr, path, None).await;
        assert!(status == 200 || status == 503, "{path}: {status} {body}");
    }
    let (_, _, body) = get(addr, "/readyz", None).await;
    assert!(
        !body.contains("open_api"),
        "no open-API warning when auth is on: {body}"
    );

    // The change stream is guarded like the rest.
    let (status, _, _) = get(addr, "/api/v1/changes", None).await;
    assert_eq!(status, 401);
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/changes"))
        .header("authorization", bearer(READ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(response);

    // `/metrics` needs a token by default and counts every refusal above.
    let (status, _, _) = get(addr, "/metrics", None).await;
    assert_eq!(status, 401);
    let (status, _, text) = get(addr, "/metrics", Some(READ)).await;
    assert_eq!(status, 200);
    let page = parse(&text);
    let denied = |reason: &str| denied(&page, "http", reason);
    assert_eq!(denied("missing"), Some(3.0), "tree, changes, metrics");
    assert_eq!(denied("unknown"), Some(1.0));
    assert_eq!(denied("malformed"), Some(2.0), "Basic and empty bearer");
    assert_eq!(denied("scope"), Some(1.0));
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_queries_need_a_token_while_health_and_ingest_do_not() {
    let s = start("grpc", "open").await;
    let addr = s.agg.grpc_addr();

    let missing = grpc_tree(addr, None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    let unknown = grpc_tree(addr, Some("not-a-token-anyone-was-given"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    grpc_tree(addr, Some(READ))
        .await
        .expect("a read token reads");

    // The kubelet's gRPC probe and agents (who authenticate by certificate
    // when TLS is on) carry no bearer token.
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health answers without a token");
    let mut feeder = Feeder::hub_dns(addr).await;
    feeder.batch(5, 0).await;

    // `metrics: open` lets a scraper in without a token; the refusals are
    // there, by API and reason.
    let http = s.agg.http_addr();
    let text = eventually("the gRPC refusals on /metrics", DEADLINE, || async {
        let (status, _, text) = get(http, "/metrics", None).await;
        if status != 200 {
            return Err(format!("/metrics answered {status}"));
        }
        let page = parse(&text);
        let denied = |reason: &str| denied(&page, "grpc", reason);
        match (denied("missing"), denied("unknown")) {
            (Some(1.0), Some(1.0)) => Ok(text.clone()),
            other => Err(format!("missing, unknown = {other:?}")),
        }
    })
    .await;
    assert!(text.contains("vigil_node_state"), "the page is whole");
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_token_file_takes_effect_without_a_restart() {
    let s = start("rotate", "token").await;
    let addr = s.agg.http_addr();
    assert_eq!(get(addr, "/api/v1/tree", Some(READ)).await.0, 200);

    let rotated = "rotated-read-token-fedcba9876543210";
    // Written aside and renamed in, as a Kubernetes secret volume swaps it.
    std::fs::write(s.dir.join("read.new"), rotated).unwrap();
    std::fs::rename(s.dir.join("read.new"), s.dir.join("read")).unwrap();

    eventually(
        "the rotated token accepted, the old refused",
        DEADLINE,
        || async {
            let new = get(addr, "/api/v1/tree", Some(rotated)).await.0;
            let old = get(addr, "/api/v1/tree", Some(READ)).await.0;
            if new == 200 && old == 401 {
                Ok(())
            } else {
                Err(format!("rotated → {new}, old → {old}"))
            }
        },
    )
    .await;
    // The admin token, in a file that did not change, still works.
    assert_eq!(get(addr, "/api/v1/tree", Some(ADMIN)).await.0, 200);

    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn no_credentials_and_no_opt_out_is_a_config_error_naming_auth() {
    let yaml = aggregator_yaml_with(&Evaluation::FAST, "insecure:\n  plaintext: true\n");
    let err = AggregatorConfig::from_yaml(&yaml, "access-test.yaml")
        .and_then(|c| c.check_access("access-test.yaml").map(|()| c))
        .expect_err("neither auth nor open_api");
    let text = err.to_string();
    assert!(text.contains("access-test.yaml"), "{text}");
    assert!(text.contains("auth"), "{text}");
    assert!(text.contains("open_api"), "names the opt-out: {text}");

    // Both at once is as wrong: the opt-out would silently win.
    let dir = vigil_testkit::scratch::dir("access", "both");
    std::fs::write(dir.join("read"), READ).unwrap();
    std::fs::write(dir.join("admin"), ADMIN).unwrap();
    let yaml = aggregator_yaml_with(
        &Evaluation::FAST,
        &security(&dir, "token")
            .replace("plaintext: true\n", "plaintext: true\n  open_api: true\n"),
    );
    let err = AggregatorConfig::from_yaml(&yaml, "access-test.yaml")
        .and_then(|c| c.check_access("access-test.yaml").map(|()| c))
        .expect_err("auth and open_api");
    assert!(err.to_string().contains("insecure.open_api"), "{err}");

    // The explicit opt-out starts, and says so in /readyz.
    let yaml = aggregator_yaml_with(&Evaluation::FAST, OPEN);
    let config = AggregatorConfig::from_yaml(&yaml, "access-test.yaml").unwrap();
    let agg = Aggregator::start(config, model()).await.unwrap();
    let (_, _, body) = get(agg.http_addr(), "/readyz", None).await;
    assert!(body.contains("open_api"), "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}
