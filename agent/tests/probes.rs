//! Probes against real servers on loopback: an axum HTTP server, raw TCP
//! listeners and an in-process hickory DNS server.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use vigil_agent::config::{AgentConfig, ProbeConfig};
use vigil_agent::probe::{self, Observation};
use vigil_proto::v1::{ErrorClass, Outcome, signal_detail::Detail};
use vigil_testkit::net::closed_port;

fn probe_config(body: &str) -> ProbeConfig {
    let text = format!(
        "agent: {{ id: t, network: test }}\nprobes:\n  - id: p\n    component: c\n    layer: workload_application\n    interval: 5s\n    timeout: 400ms\n{body}"
    );
    let mut config = AgentConfig::from_yaml(&text, "test.yaml").unwrap();
    config.probes.remove(0)
}

async fn run(config: &ProbeConfig) -> Observation {
    let p = probe::build(config).unwrap();
    probe::run_once(
        p.as_ref(),
        config.schedule.timeout,
        config.latency_threshold,
    )
    .await
}

async fn http_server() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "status: ok" }))
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                "ok"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn http(addr: SocketAddr, path: &str, extra: &str) -> ProbeConfig {
    probe_config(&format!(
        "    kind: http\n    url: http://{addr}{path}\n{extra}"
    ))
}

#[tokio::test]
async fn http_success() {
    let addr = http_server().await;
    let obs = run(&http(
        addr,
        "/ok",
        "    expect_status: [200]\n    body_match: \"status: ok\"\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(obs.error_class, ErrorClass::Unspecified);
    assert!(obs.message.is_empty());
    assert!(obs.latency > Duration::ZERO);
}

#[tokio::test]
async fn http_503_is_http_status_with_detail() {
    let addr = http_server().await;
    let obs = run(&http(addr, "/down", "")).await;
    assert_eq!(obs.outcome, Outcome::Failure);
    assert_eq!(obs.error_class, ErrorClass::HttpStatus);
    match obs.detail {
        Some(Detail::Http(h)) => assert_eq!(h.status, 503),
        other => panic!("expected http detail, got {other:?}"),
    }
    assert!(obs.message.contains("503"), "{}", obs.message);
}

#[tokio::test]
async fn http_body_mismatch() {
    let addr = http_server().await;
    let obs = run(&http(addr, "/ok", "    body_match: \"^healthy$\"\n")).await;
    assert_eq!(obs.error_class, ErrorClass::HttpBodyMismatch, "{obs:?}");
    assert_eq!(obs.outcome, Outcome::Failure);
}

#[tokio::test]
async fn http_slow_over_threshold() {
    let addr = http_server().await;
    let obs = run(&http(addr, "/slow", "    latency_threshold: 50ms\n")).await;
    assert_eq!(obs.error_class, ErrorClass::Slow, "{obs:?}");
    assert_eq!(obs.outcome, Outcome::Failure);
}

#[tokio::test]
async fn http_refused_port() {
    let addr = closed_port().await;
    let obs = run(&http(addr, "/", "")).await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionRefused, "{obs:?}");
    assert!(!obs.message.is_empty());
}

#[tokio::test]
async fn http_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            keep.lock().await.push(conn);
        }
    });
    let started = std::time::Instant::now();
    let obs = run(&http(addr, "/", "")).await;
    assert_eq!(obs.error_class, ErrorClass::Timeout, "{obs:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(held.lock().await.len(), 1, "the probe did connect");
}

#[tokio::test]
async fn tcp_accept_and_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let obs = run(&probe_config(&format!(
        "    kind: tcp\n    address: {addr}\n"
    )))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");

    let addr = closed_port().await;
    let obs = run(&probe_config(&format!(
        "    kind: tcp\n    address: {addr}\n"
    )))
    .await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionRefused, "{obs:?}");
}

#[tokio::test]
async fn tcp_timeout_when_accept_backlog_is_full() {
    // A listener that never accepts, with the smallest backlog: once its
    // queue is full the kernel drops further SYNs, so connects hang.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut filled = Vec::new();
    let mut saturated = false;
    for _ in 0..64 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(conn)) => filled.push(conn),
            Ok(Err(e)) => panic!("unexpected connect error while filling the backlog: {e}"),
            Err(_) => {
                saturated = true;
                break;
            }
        }
    }
    assert!(
        saturated,
        "backlog never filled after {} connections",
        filled.len()
    );
    let obs = run(&probe_config(&format!(
        "    kind: tcp\n    address: {addr}\n"
    )))
    .await;
    assert_eq!(obs.error_class, ErrorClass::Timeout, "{obs:?}");
    drop(listener);
}

async fn dns_server() -> SocketAddr {
    let origin = Name::from_str("example.internal.").unwrap();
    let mut zone: InMemoryZoneHandler =
        InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        Name::from_str("ns.example.internal.").unwrap(),
        Name::from_str("admin.example.internal.").unwrap(),
        1,
        3600,
        600,
        86400,
        60,
    );
    assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1));
    let kv = Name::from_str("kv.example.internal.").unwrap();
    assert!(zone.upsert_mut(
        Record::from_rdata(kv, 60, RData::A(A(Ipv4Addr::new(10, 1, 2, 3)))),
        1
    ));
    let mut catalog = Catalog::new();
    let handler: Arc<dyn ZoneHandler> = Arc::new(zone);
    catalog.upsert(LowerName::new(&origin), vec![handler]);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = Server::new(catalog);
    server.register_socket(socket);
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    addr
}

fn dns(server: SocketAddr, name: &str) -> ProbeConfig {
    probe_config(&format!(
        "    kind: dns\n    name: {name}\n    server: \"{server}\"\n"
    ))
}

#[tokio::test]
async fn dns_a_record_resolves() {
    let server = dns_server().await;
    let obs = run(&dns(server, "kv.example.internal")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    match &obs.detail {
        Some(Detail::Dns(d)) => {
            assert_eq!(d.addresses, vec!["10.1.2.3".to_owned()]);
            assert_eq!(d.resolver, server.to_string());
            assert_eq!(d.rcode, "NOERROR");
        }
        other => panic!("expected dns detail, got {other:?}"),
    }
}

#[tokio::test]
async fn dns_nxdomain() {
    let server = dns_server().await;
    let obs = run(&dns(server, "missing.example.internal")).await;
    assert_eq!(obs.error_class, ErrorClass::DnsNxdomain, "{obs:?}");
    match &obs.detail {
        Some(Detail::Dns(d)) => {
            assert!(d.addresses.is_empty());
            assert_eq!(d.rcode, "NXDOMAIN");
        }
        other => panic!("expected dns detail, got {other:?}"),
    }
}

#[tokio::test]
async fn dns_server_that_never_answers_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = silent.local_addr().unwrap();
    let obs = run(&dns(server, "kv.example.internal")).await;
    assert_eq!(obs.error_class, ErrorClass::DnsTimeout, "{obs:?}");
    assert_eq!(obs.outcome, Outcome::Failure);
    drop(silent);
}
