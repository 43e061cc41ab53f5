//! Who may stream, over real TLS sockets: an aggregator serving the
//! certificates of a development CA (vigil-trust), agents presenting client
//! certificates that carry their SPIFFE identity. A certificate for one
//! network cannot speak for another; a client without TLS, without a
//! certificate, with another CA's or an expired one is refused; a rotated
//! server certificate is served to new connections while open streams go
//! on; a revoked agent is cut off; nothing below TLS 1.2 is accepted.

mod feed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use feed::DEADLINE;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use vigil_aggregator::ingest::RejectReason;
use vigil_aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use vigil_proto::v1::{Outcome, Signal, stream_response};
use vigil_testkit::config::{Evaluation, aggregator_yaml_with, tls_section};
use vigil_testkit::ingest::{self, IngestStream, rejection_over};
use vigil_testkit::now_ms;
use vigil_testkit::wait::eventually;
use vigil_trust::{AgentIdentity, DevCerts, Issued};

const TRUST_DOMAIN: &str = "vigil.test";

struct Setup {
    dir: PathBuf,
    ca: DevCerts,
    agg: AggregatorHandle,
}

/// An aggregator on loopback serving `dir/server/{tls.crt,tls.key,ca.crt}`,
/// reloading them every 100 ms, with `dir/revoked.txt` as its deny-list.
async fn start(test: &str) -> Setup {
    start_with(test, "").await
}

/// [`start`] with more `tls:` fields (indented YAML).
async fn start_with(test: &str, tls_extra: &str) -> Setup {
    let dir = vigil_testkit::scratch::dir("trust", test);
    let ca = DevCerts::new(TRUST_DOMAIN).unwrap();
    ca.server(&["localhost", "127.0.0.1"])
        .unwrap()
        .write(&dir.join("server"), ca.ca_pem())
        .unwrap();
    std::fs::write(dir.join("revoked.txt"), "# none yet\n").unwrap();
    let tls = tls_section(
        &dir.join("server"),
        TRUST_DOMAIN,
        &format!(
            "  revoked: {}\n  reload_interval: 100ms\n{tls_extra}",
            dir.join("revoked.txt").display()
        ),
    );
    let yaml = aggregator_yaml_with(
        &Evaluation::FAST,
        &format!("{tls}insecure:\n  open_api: true\n"),
    );
    let config = AggregatorConfig::from_yaml(&yaml, "trust-test.yaml").unwrap();
    let agg = Aggregator::start(config, feed::model()).await.unwrap();
    Setup { dir, ca, agg }
}

fn ca_pem(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("server/ca.crt")).unwrap()
}

/// A TLS channel to `addr` verifying the aggregator as `localhost`,
/// presenting `client` if given.
async fn channel(addr: SocketAddr, ca: &[u8], client: Option<&Issued>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(c) = client {
        tls = tls.identity(Identity::from_pem(&c.cert_pem, &c.key_pem));
    }
    Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

fn batch(sequence: u64) -> vigil_proto::v1::StreamRequest {
    ingest::batch(
        sequence,
        now_ms(),
        vec![Signal {
            probe_index: 0,
            outcome: Outcome::Success as i32,
            latency_us: 900,
            ..Default::default()
        }],
        0,
    )
}

fn declare() -> vigil_proto::v1::StreamRequest {
    ingest::declare(vec![vigil_proto::v1::ProbeDeclaration {
        index: 0,
        probe_id: "hub-dns-probe".into(),
        kind: vigil_proto::v1::ProbeKind::Dns as i32,
        target: "10.0.0.4:53".into(),
        component: "hub-dns".into(),
        layer: vigil_proto::v1::Layer::PlatformHub as i32,
        labels: Default::default(),
        interval_ms: 100,
    }])
}

/// Opens a stream as `agent` in `network` over `channel` and expects Welcome.
async fn welcomed(channel: Channel, agent: &str, network: &str) -> IngestStream {
    let mut s = IngestStream::over(channel).await;
    s.send(ingest::hello(agent, network, 1)).await;
    match s.reply(DEADLINE).await {
        Ok(stream_response::Message::Welcome(_)) => {}
        other => panic!("expected Welcome for {agent}@{network}, got {other:?}"),
    }
    s.send(declare()).await;
    s
}

async fn acked(s: &mut IngestStream, sequence: u64) {
    s.send(batch(sequence)).await;
    match s.reply(DEADLINE).await {
        Ok(stream_response::Message::Ack(a)) => assert_eq!(a.sequence, sequence),
        other => panic!("expected Ack {sequence}, got {other:?}"),
    }
}

fn agent_known(agg: &AggregatorHandle, id: &str) -> bool {
    agg.subscribe()
        .borrow()
        .known_agents()
        .any(|a| &*a.id == id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_without_a_spiffe_id_is_who_tls_subjects_maps_it_to() {
    let s = start_with(
        "subjects",
        "  subjects:\n    - { common_name: hub-probe-1.corp, network: hub, agent_id: hub-probe-1 }\n",
    )
    .await;
    let addr = s.agg.grpc_addr();
    let ca = ca_pem(&s.dir);
    let mapped = s.ca.client("hub-probe-1.corp").unwrap();
    let mut own = welcomed(
        channel(addr, &ca, Some(&mapped)).await.unwrap(),
        "hub-probe-1",
        "hub",
    )
    .await;
    acked(&mut own, 1).await;

    // The mapped certificate claiming a spoke: PERMISSION_DENIED.
    let status = rejection_over(
        channel(addr, &ca, Some(&mapped)).await.unwrap(),
        vec![
            ingest::hello("hub-probe-1", "spoke-a", 1),
            declare(),
            batch(1),
        ],
        DEADLINE,
    )
    .await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // A certificate of the same CA whose common name is not mapped grants
    // nothing: UNAUTHENTICATED, naming it.
    let stranger = s.ca.client("laptop.corp").unwrap();
    let status = rejection_over(
        channel(addr, &ca, Some(&stranger)).await.unwrap(),
        vec![ingest::hello("hub-probe-1", "hub", 1), declare(), batch(1)],
        DEADLINE,
    )
    .await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("`laptop.corp`"), "{status:?}");
    assert!(agent_known(&s.agg, "hub-probe-1"));
    s.agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_is_who_its_certificate_says_and_nobody_else() {
    let s = start("claims").await;
    let addr = s.agg.grpc_addr();
    let ca = ca_pem(&s.dir);
    let spoke_b = s.ca.agent("spoke-b", "agent-b").unwrap();

    // Its own identity: welcomed, its batches applied.
    let mut own = welcomed(
        channel(addr, &ca, Some(&spoke_b)).await.unwrap(),
        "agent-b",
        "spoke-b",
    )
    .await;
    acked(&mut own, 1).await;

    // The same certificate claiming the hub, or another agent id: refused
    // with PERMISSION_DENIED, counted, and never in the store.
    for (agent, network) in [
        ("agent-b", "hub"),
        ("hub-agent", "spoke-b"),
        ("hub-agent", "hub"),
    ] {
        let status = rejection_over(
            channel(addr, &ca, Some(&spoke_b)).await.unwrap(),
            vec![ingest::hello(agent, network, 1), declare(), batch(1)],
            DEADLINE,
        )
        .await;
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{agent}@{network}: {status:?}"
        );
        assert!(
            status
                .message()
                .contains("grants agent `agent-b` in network `spoke-b`"),
            "{}",
            status.message()
        );
    }
    assert!(!agent_known(&s.agg, "hub-agent"));
    assert_eq!(
        s.agg
            .ingest_stats()
            .rejected
            .get(RejectReason::IdentityMismatch),
        3
    );

    // No client certificate at all: UNAUTHENTICATED.
    let status = rejection_over(
        channel(addr, &ca, None).await.unwrap(),
        vec![ingest::hello("agent-b", "spoke-b", 1)],
        DEADLINE,
    )
    .await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        s.agg
            .ingest_stats()
            .rejected
            .get(RejectReason::Unauthenticated),
        1
    );

    // The honest stream was never disturbed.
    acked(&mut own, 2).await;
    assert!(agent_known(&s.agg, "agent-b"));
    s.agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_foreign_and_expired_clients_are_refused_in_the_handshake() {
    let s = start("handshake").await;
    let addr = s.agg.grpc_addr();
    let ca = ca_pem(&s.dir);

    // A plaintext gRPC client on the TLS port: no stream, a clean error.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(plain) = plain {
        let mut client = vigil_proto::v1::ingest_service_client::IngestServiceClient::new(plain);
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        let r = tokio::time::timeout(
            DEADLINE,
            client.stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
        )
        .await
        .expect("the plaintext client gets an answer in time");
        assert!(r.is_err(), "a plaintext stream opened on the TLS port");
    }

    // A certificate from another CA, and one of ours that has expired.
    let foreign = DevCerts::new(TRUST_DOMAIN)
        .unwrap()
        .agent("spoke-b", "agent-b")
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let dated =
        s.ca.agent_valid(
            "spoke-b",
            "agent-b",
            (
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            ),
        )
        .unwrap();
    for (what, client) in [("another CA", &foreign), ("expired", &dated)] {
        let refused = match channel(addr, &ca, Some(client)).await {
            Err(_) => true,
            Ok(ch) => {
                let status =
                    rejection_over(ch, vec![ingest::hello("agent-b", "spoke-b", 1)], DEADLINE)
                        .await;
                status.code() != Code::Ok
                    && status.code() != Code::PermissionDenied
                    && status.code() != Code::Unauthenticated
            }
        };
        assert!(refused, "{what}: the handshake went through");
    }
    assert!(
        !agent_known(&s.agg, "agent-b"),
        "a refused client reached the store"
    );
    assert_eq!(
        s.agg.ingest_stats().rejected_total(),
        0,
        "refused before any stream"
    );

    // And a good agent still gets in.
    let good = s.ca.agent("spoke-a", "agent-a").unwrap();
    let mut g = welcomed(
        channel(addr, &ca, Some(&good)).await.unwrap(),
        "agent-a",
        "spoke-a",
    )
    .await;
    acked(&mut g, 1).await;
    s.agg.shutdown().await;
}

/// The serial of the certificate a TLS handshake with `addr` is served.
async fn served_serial(addr: SocketAddr, ca: &[u8]) -> String {
    let files = vigil_trust::ClientFiles {
        ca: write_temp(ca),
        identity: None,
    };
    let config = vigil_trust::client_config(&files, &[b"h2"]).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (_, x509) = x509_parser::parse_x509_certificate(leaf.as_ref()).unwrap();
    x509.raw_serial_as_string()
}

fn write_temp(pem: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "vigil-trust-ca-{}-{}.pem",
        std::process::id(),
        now_ms()
    ));
    std::fs::write(&path, pem).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_certificate_is_served_to_new_connections_and_open_streams_go_on() {
    let s = start("rotate").await;
    let addr = s.agg.grpc_addr();
    let ca = ca_pem(&s.dir);
    let agent = s.ca.agent("spoke-a", "agent-a").unwrap();
    let mut open = welcomed(
        channel(addr, &ca, Some(&agent)).await.unwrap(),
        "agent-a",
        "spoke-a",
    )
    .await;
    acked(&mut open, 1).await;
    let before = served_serial(addr, &ca).await;

    // cert-manager writes a new certificate into the mounted secret.
    s.ca.server(&["localhost", "127.0.0.1"])
        .unwrap()
        .write(&s.dir.join("server"), s.ca.ca_pem())
        .unwrap();
    let after = eventually("the rotated certificate served", DEADLINE, async || {
        let serial = served_serial(addr, &ca).await;
        if serial != before {
            Ok(serial)
        } else {
            Err(format!("still serial {serial}"))
        }
    })
    .await;
    assert_ne!(after, before);
    // The stream opened before the rotation was not dropped.
    acked(&mut open, 2).await;
    s.agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_agent_is_cut_off_at_once_and_refused_after() {
    let s = start("revoke").await;
    let addr = s.agg.grpc_addr();
    let ca = ca_pem(&s.dir);
    let agent = s.ca.agent("spoke-a", "agent-a").unwrap();
    let other = s.ca.agent("spoke-b", "agent-b").unwrap();
    let mut victim = welcomed(
        channel(addr, &ca, Some(&agent)).await.unwrap(),
        "agent-a",
        "spoke-a",
    )
    .await;
    let mut bystander = welcomed(
        channel(addr, &ca, Some(&other)).await.unwrap(),
        "agent-b",
        "spoke-b",
    )
    .await;
    acked(&mut victim, 1).await;

    let id = AgentIdentity::from_cert(&agent.chain[0], TRUST_DOMAIN).unwrap();
    std::fs::write(
        s.dir.join("revoked.txt"),
        format!("# stolen laptop\n{}\n", id.serial),
    )
    .unwrap();
    // The open stream's next batch is refused once the list has reloaded
    // (every 100 ms here): one more batch per check until it is.
    let mut sequence = 1;
    let status = eventually("the revoked stream cut off", DEADLINE, async || {
        sequence += 1;
        victim.send(batch(sequence)).await;
        match victim.reply(DEADLINE).await {
            Ok(stream_response::Message::Ack(_)) => Err(format!("batch {sequence} still acked")),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(status) => Ok(status),
        }
    })
    .await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("revoked"), "{}", status.message());
    // A new stream with the same certificate is refused at its Hello.
    let status = rejection_over(
        channel(addr, &ca, Some(&agent)).await.unwrap(),
        vec![ingest::hello("agent-a", "spoke-a", 2)],
        DEADLINE,
    )
    .await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(s.agg.ingest_stats().rejected.get(RejectReason::Revoked), 2);
    // Everyone else streams on.
    acked(&mut bystander, 1).await;
    s.agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_is_served_over_tls_only() {
    let s = start("http").await;
    let http = s.agg.http_addr();
    let ca = ca_pem(&s.dir);
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/readyz", http.port());
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.starts_with("ready\n"), "{body}");
    assert!(
        !body.contains("insecure.plaintext"),
        "no plaintext warning under TLS: {body}"
    );
    let plain = reqwest::get(format!("http://{http}/readyz")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    s.agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_says_so_when_plaintext_is_chosen() {
    let config = feed::fast_config();
    let agg = Aggregator::start(config, feed::model()).await.unwrap();
    let body = reqwest::get(format!("http://{}/readyz", agg.http_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.starts_with("ready\n") && body.contains("warning: insecure.plaintext"),
        "{body}"
    );
    agg.shutdown().await;
}

/// `openssl s_client`, a TLS client Vigil did not write: TLS 1.1 is refused,
/// TLS 1.2 and 1.3 complete.
#[tokio::test(flavor = "multi_thread")]
async fn only_tls_1_2_and_newer_are_spoken() {
    if !vigil_testkit::peer::available("openssl", "openssl", "the TLS version check") {
        return;
    }
    let s = start("versions").await;
    let addr = s.agg.grpc_addr();
    let ca = s.dir.join("server/ca.crt");
    let handshake = |flag: &'static str| {
        let ca = ca.clone();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new("openssl")
                    .args([
                        "s_client",
                        flag,
                        "-connect",
                        &addr.to_string(),
                        "-servername",
                        "localhost",
                        "-CAfile",
                    ])
                    .arg(&ca)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            (out.status.success(), text)
        }
    };
    let (ok, text) = handshake("-tls1_1").await;
    assert!(
        !ok || !text.contains("Verify return code: 0"),
        "TLS 1.1 accepted:\n{text}"
    );
    for flag in ["-tls1_2", "-tls1_3"] {
        let (ok, text) = handshake(flag).await;
        assert!(
            ok && text.contains("Verify return code: 0 (ok)"),
            "{flag} refused:\n{text}"
        );
    }
    s.agg.shutdown().await;
}
