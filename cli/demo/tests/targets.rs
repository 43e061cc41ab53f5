//! The demo's local targets, exercised with real clients over loopback: reqwest
//! for the workload and the echo service, TcpStream for the TCP service, raw DNS
//! messages over UDP and TCP for the zone server, tonic-health's client for the
//! gRPC health target.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use vigil_demo::targets::{
    DnsZoneServer, EchoService, GrpcHealthTarget, HttpWorkload, TcpService, WorkloadMode,
};
use vigil_testkit::eventually;

const DEADLINE: Duration = Duration::from_secs(5);

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_switches_between_healthy_failing_slow_and_down() {
    let workload = HttpWorkload::start(any_port()).await.unwrap();
    let addr = workload.addr();
    assert_ne!(addr.port(), 0);
    let url = format!("http://{addr}/health");
    let client = http_client();

    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");

    workload.set_mode(WorkloadMode::Failing5xx).await.unwrap();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 503);

    workload
        .set_mode(WorkloadMode::Slow(Duration::from_millis(300)))
        .await
        .unwrap();
    let started = Instant::now();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Down: refused, even for the client that holds a pooled connection.
    workload.set_mode(WorkloadMode::Down).await.unwrap();
    let err = client.get(&url).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);

    // Healthy again: the same port answers.
    workload.set_mode(WorkloadMode::Healthy).await.unwrap();
    assert_eq!(workload.addr(), addr);
    let resp = http_client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(workload.mode(), WorkloadMode::Healthy);

    workload.stop().await;
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_not_health() {
    let workload = HttpWorkload::start(any_port()).await.unwrap();
    let resp = http_client()
        .get(format!("http://{}/other", workload.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    workload.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_service_accepts_closes_and_refuses_when_down() {
    let service = TcpService::start(any_port()).await.unwrap();
    let addr = service.addr();

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .expect("the service closes the connection")
        .unwrap_or(0);
    assert_eq!(read, 0);

    service.set_up(false).await.unwrap();
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // Idempotent.
    service.set_up(false).await.unwrap();

    service.set_up(true).await.unwrap();
    assert!(TcpStream::connect(addr).await.is_ok());
    service.set_up(true).await.unwrap();
    assert_eq!(service.addr(), addr);

    service.stop().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

const ZONE: &str = "privatelink.vaultcore.azure.net";
const VAULT: &str = "vault.privatelink.vaultcore.azure.net.";

fn query(name: &str) -> (u16, Vec<u8>) {
    let mut msg = Message::query();
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    (msg.metadata.id, msg.to_vec().unwrap())
}

/// One UDP query; `None` if no answer arrives within `wait`.
async fn udp_query(server: SocketAddr, name: &str, wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind(any_port()).await.unwrap();
    let (id, bytes) = query(name);
    socket.send_to(&bytes, server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    let msg = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(msg.metadata.id, id);
    Some(msg)
}

async fn tcp_query(server: SocketAddr, name: &str) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let (_, bytes) = query(name);
    let len = u16::try_from(bytes.len()).unwrap();
    stream.write_all(&len.to_be_bytes()).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn addresses(msg: &Message) -> Vec<IpAddr> {
    msg.answers
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_zone_answers_authoritatively_over_udp_and_tcp() {
    let dns = DnsZoneServer::start(
        any_port(),
        ZONE,
        &[
            ("vault", Ipv4Addr::new(10, 1, 2, 3)),
            (
                "blob.privatelink.vaultcore.azure.net",
                Ipv4Addr::new(10, 1, 2, 4),
            ),
        ],
    )
    .await
    .unwrap();
    let addr = dns.addr();

    let answer = udp_query(addr, VAULT, DEADLINE).await.expect("an answer");
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    assert_eq!(addresses(&answer), vec![IpAddr::from([10, 1, 2, 3])]);

    let answer = tcp_query(addr, "blob.privatelink.vaultcore.azure.net.").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&answer), vec![IpAddr::from([10, 1, 2, 4])]);

    let answer = udp_query(addr, "nothing.privatelink.vaultcore.azure.net.", DEADLINE)
        .await
        .unwrap();
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_zone_records_change_and_vanish_at_runtime() {
    let dns = DnsZoneServer::start(any_port(), ZONE, &[("vault", Ipv4Addr::new(10, 1, 2, 3))])
        .await
        .unwrap();
    let addr = dns.addr();

    // A private record replaced by a public address (zone unlinked).
    dns.set_record("vault", Some(Ipv4Addr::new(20, 60, 1, 1)))
        .await
        .unwrap();
    let answer = udp_query(addr, VAULT, DEADLINE).await.unwrap();
    assert_eq!(addresses(&answer), vec![IpAddr::from([20, 60, 1, 1])]);

    // Deleted: NXDOMAIN, over both transports.
    dns.set_record(VAULT, None).await.unwrap();
    let answer = udp_query(addr, VAULT, DEADLINE).await.unwrap();
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(addresses(&answer).is_empty());
    let answer = tcp_query(addr, VAULT).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);

    // Restored.
    dns.set_record("vault", Some(Ipv4Addr::new(10, 1, 2, 3)))
        .await
        .unwrap();
    let answer = udp_query(addr, VAULT, DEADLINE).await.unwrap();
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&answer), vec![IpAddr::from([10, 1, 2, 3])]);

    // Names outside the zone are refused at the edge.
    let err = dns
        .set_record("", Some(Ipv4Addr::LOCALHOST))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_zone_down_drops_queries_until_up() {
    let dns = DnsZoneServer::start(any_port(), ZONE, &[("vault", Ipv4Addr::new(10, 1, 2, 3))])
        .await
        .unwrap();
    let addr = dns.addr();
    assert!(udp_query(addr, VAULT, DEADLINE).await.is_some());

    dns.set_up(false);
    assert!(!dns.is_up());
    // A hung resolver: the socket is still bound (no ICMP refusal), nothing
    // comes back within a probe-sized timeout.
    assert!(
        udp_query(addr, VAULT, Duration::from_millis(500))
            .await
            .is_none()
    );
    assert!(UdpSocket::bind(addr).await.is_err(), "the port stays bound");

    dns.set_up(true);
    eventually("the DNS server answers again", DEADLINE, || async move {
        udp_query(addr, VAULT, Duration::from_millis(500))
            .await
            .is_some()
    })
    .await;
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_zone_rejects_a_bad_origin() {
    let err = DnsZoneServer::start(any_port(), "", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("origin"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_tells_the_caller_its_source_ip() {
    let echo = EchoService::start(any_port()).await.unwrap();
    let addr = echo.addr();
    assert_ne!(addr.port(), 0);
    let client = http_client();

    let resp = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "echo");

    let resp = client
        .get(format!("http://{addr}/ip"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ip: IpAddr = resp.text().await.unwrap().parse().expect("a bare IP");
    assert_eq!(ip, IpAddr::from([127, 0, 0, 1]));

    // A caller on another loopback address is told that address, not a
    // constant: the answer is the connection's source.
    let other = reqwest::Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let seen = other
        .get(format!("http://{addr}/ip"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(seen, "127.0.0.2");

    let resp = client
        .get(format!("http://{addr}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    echo.set_up(false).await.unwrap();
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    echo.set_up(true).await.unwrap();
    let resp = http_client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    echo.stop().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

async fn health_check(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> Result<HealthCheckResponse, tonic::Status> {
    client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_target_flips_between_serving_and_not_serving() {
    let target = GrpcHealthTarget::start(any_port()).await.unwrap();
    let addr = target.addr();
    assert_ne!(addr.port(), 0);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(DEADLINE)
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);

    let status = health_check(&mut client, "").await.unwrap().status();
    assert_eq!(status, ServingStatus::Serving);

    target.set_serving(false).await;
    let status = health_check(&mut client, "").await.unwrap().status();
    assert_eq!(status, ServingStatus::NotServing);

    target.set_serving(true).await;
    let status = health_check(&mut client, "").await.unwrap().status();
    assert_eq!(status, ServingStatus::Serving);

    // A service the target does not know is NOT_FOUND, per the protocol.
    let err = health_check(&mut client, "vigil.v1.Nothing")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    target.stop().await;
    eventually(
        "the stopped target refuses connections",
        DEADLINE,
        || async move { TcpStream::connect(addr).await.is_err() },
    )
    .await;
}
