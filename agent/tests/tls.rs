//! TLS probes against tokio-rustls servers presenting certificates made by
//! rcgen in the test, trusted through the probe's `ca_file`.

mod common;

use std::net::SocketAddr;

use common::tls::{Cert, NAME, TlsLab};
use common::{net, probe_config, run};
use vigil_agent::config::ProbeConfig;
use vigil_agent::probe::Observation;
use vigil_proto::v1::{ErrorClass, Outcome, TlsDetail, signal_detail::Detail};
use vigil_testkit::net::closed_port;

fn tls(lab: &TlsLab, addr: SocketAddr, extra: &str) -> ProbeConfig {
    probe_config(
        "1s",
        &format!(
            "    kind: tls\n    address: \"{addr}\"\n    sni: {NAME}\n    ca_file: \"{}\"\n{extra}",
            lab.ca_file.display()
        ),
    )
}

fn detail(obs: &Observation) -> &TlsDetail {
    match &obs.detail {
        Some(Detail::Tls(d)) => d,
        other => panic!("expected tls detail, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_certificate() {
    let lab = TlsLab::new("valid");
    let addr = lab.serve(Cert::Valid).await;
    let obs = run(&tls(&lab, addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    let d = detail(&obs);
    assert!((360..=365).contains(&d.days_to_expiry), "{d:?}");
    assert!(d.subject.contains(NAME), "{d:?}");
    assert!(d.issuer.contains("Vigil Lab CA"), "{d:?}");
}

#[tokio::test]
async fn expired_certificate() {
    let lab = TlsLab::new("expired");
    let addr = lab.serve(Cert::Expired).await;
    let obs = run(&tls(&lab, addr, "")).await;
    assert_eq!(obs.outcome, Outcome::Failure);
    assert_eq!(obs.error_class, ErrorClass::TlsExpired, "{obs:?}");
    assert!(detail(&obs).days_to_expiry < 0, "{obs:?}");
}

#[tokio::test]
async fn not_yet_valid_certificate() {
    let lab = TlsLab::new("early");
    let addr = lab.serve(Cert::NotYetValid).await;
    let obs = run(&tls(&lab, addr, "")).await;
    assert_eq!(obs.error_class, ErrorClass::TlsNotYetValid, "{obs:?}");
}

#[tokio::test]
async fn wrong_name() {
    let lab = TlsLab::new("name");
    let addr = lab.serve(Cert::WrongName).await;
    let obs = run(&tls(&lab, addr, "")).await;
    assert_eq!(obs.error_class, ErrorClass::TlsNameMismatch, "{obs:?}");
    assert!(detail(&obs).subject.contains("other.lab.test"), "{obs:?}");
}

#[tokio::test]
async fn untrusted_issuer() {
    let lab = TlsLab::new("untrusted");
    let addr = lab.serve(Cert::OtherCa).await;
    let obs = run(&tls(&lab, addr, "")).await;
    assert_eq!(obs.error_class, ErrorClass::TlsUntrusted, "{obs:?}");
    // Without ca_file the public web PKI does not know the lab CA either.
    let addr = lab.serve(Cert::Valid).await;
    let config = probe_config(
        "1s",
        &format!("    kind: tls\n    address: \"{addr}\"\n    sni: {NAME}\n"),
    );
    let obs = run(&config).await;
    assert_eq!(obs.error_class, ErrorClass::TlsUntrusted, "{obs:?}");
}

#[tokio::test]
async fn expiry_thresholds_warn_then_fail() {
    let lab = TlsLab::new("expiring");
    let thresholds = "    warn_days: 30\n    critical_days: 7\n";
    let addr = lab.serve(Cert::ExpiresIn(20)).await;
    let obs = run(&tls(&lab, addr, thresholds)).await;
    assert_eq!(obs.outcome, Outcome::Warning, "{obs:?}");
    assert_eq!(obs.error_class, ErrorClass::TlsExpiring);
    assert_eq!(detail(&obs).days_to_expiry, 20);

    let addr = lab.serve(Cert::ExpiresIn(3)).await;
    let obs = run(&tls(&lab, addr, thresholds)).await;
    assert_eq!(obs.outcome, Outcome::Failure, "{obs:?}");
    assert_eq!(obs.error_class, ErrorClass::TlsExpiring);
    assert!(obs.message.contains("3 days"), "{}", obs.message);

    let addr = lab.serve(Cert::ExpiresIn(60)).await;
    let obs = run(&tls(&lab, addr, thresholds)).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
}

#[tokio::test]
async fn reset_after_hello_and_transport_failures() {
    let lab = TlsLab::new("transport");
    let (addr, _) = net::reset_after_hello().await;
    let obs = run(&tls(&lab, addr, "")).await;
    assert_eq!(obs.error_class, ErrorClass::TlsResetAfterHello, "{obs:?}");
    let obs = run(&tls(&lab, closed_port().await, "")).await;
    assert_eq!(obs.error_class, ErrorClass::ConnectionRefused, "{obs:?}");
    let hole = net::blackhole().await;
    let obs = run(&tls(&lab, hole.addr, "")).await;
    assert_eq!(obs.error_class, ErrorClass::Timeout, "{obs:?}");
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_handshake_failure() {
    let lab = TlsLab::new("plain");
    let addr = common::web::destination().await;
    let obs = run(&tls(&lab, addr, "")).await;
    assert_eq!(obs.error_class, ErrorClass::TlsHandshake, "{obs:?}");
}
