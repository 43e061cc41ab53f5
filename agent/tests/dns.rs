//! DNS probes against an in-process hickory server serving `lab.test.`:
//! every DNS error class comes from a real answer (or a real silence).

mod common;

use std::time::Duration;

use common::dns::{self, DnsLab};
use common::{probe_config, run};
use vigil_agent::probe::Observation;
use vigil_proto::v1::{DnsDetail, ErrorClass, Outcome, signal_detail::Detail};

fn dns_probe(lab: &DnsLab, name: &str, extra: &str) -> vigil_agent::config::ProbeConfig {
    probe_config(
        "1s",
        &format!(
            "    kind: dns\n    name: {name}\n    server: \"{}\"\n{extra}",
            lab.addr
        ),
    )
}

fn detail(obs: &Observation) -> &DnsDetail {
    match &obs.detail {
        Some(Detail::Dns(d)) => d,
        other => panic!("expected dns detail, got {other:?}"),
    }
}

#[tokio::test]
async fn private_endpoint_through_privatelink_passes_every_check() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "kv.vault.lab.test",
        "    must_be_private: true\n    expect_cname_contains: privatelink\n    expect_addresses: [\"10.1.2.0/24\"]\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    let d = detail(&obs);
    assert_eq!(d.addresses, vec!["10.1.2.4".to_owned()]);
    assert!(
        d.cname_chain.iter().any(|c| c.contains("privatelink")),
        "{d:?}"
    );
    assert_eq!(d.rcode, "NOERROR");
}

#[tokio::test]
async fn public_answer_where_private_is_required() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "unlinked.vault.lab.test",
        "    must_be_private: true\n    expect_cname_contains: privatelink\n",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::DnsPublicAnswer, "{obs:?}");
    assert_eq!(obs.outcome, Outcome::Failure);
    assert!(obs.message.contains("52.1.2.3"), "{}", obs.message);
    assert_eq!(detail(&obs).addresses, vec!["52.1.2.3".to_owned()]);
}

#[tokio::test]
async fn rfc6598_counts_as_private_and_public_without_the_check_passes() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "cgnat.lab.test",
        "    must_be_private: true\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    let obs = run(&dns_probe(&lab, "public.lab.test", "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    let obs = run(&dns_probe(
        &lab,
        "public.lab.test",
        "    must_be_private: true\n",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::DnsPublicAnswer, "{obs:?}");
}

#[tokio::test]
async fn ula_aaaa_is_private() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "v6only.lab.test",
        "    record_type: AAAA\n    must_be_private: true\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(detail(&obs).addresses, vec!["fd00::5".to_owned()]);
}

#[tokio::test]
async fn unexpected_private_address() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "kv.lab.test",
        "    must_be_private: true\n    expect_addresses: [\"10.1.2.4\", \"10.9.0.0/16\"]\n",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::DnsUnexpectedAnswer, "{obs:?}");
    assert!(obs.message.contains("10.1.2.3"), "{}", obs.message);
}

#[tokio::test]
async fn cname_chain_without_privatelink() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "direct.vault.lab.test",
        "    must_be_private: true\n    expect_cname_contains: privatelink\n",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::DnsCnameMismatch, "{obs:?}");
    assert!(
        obs.message.contains("direct.cloudapp.lab.test"),
        "{}",
        obs.message
    );
}

#[tokio::test]
async fn cname_record_type() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "kv.vault.lab.test",
        "    record_type: CNAME\n    expect_cname_contains: privatelink\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(
        detail(&obs).cname_chain,
        vec!["kv.privatelink.vault.lab.test.".to_owned()]
    );
    let obs = run(&dns_probe(&lab, "kv.lab.test", "    record_type: CNAME\n")).await;
    assert_eq!(obs.error_class, ErrorClass::DnsNoAnswer, "{obs:?}");
}

#[tokio::test]
async fn nxdomain() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(&lab, "gone.privatelink.vault.lab.test", "")).await;
    assert_eq!(obs.error_class, ErrorClass::DnsNxdomain, "{obs:?}");
    assert_eq!(detail(&obs).rcode, "NXDOMAIN");
}

#[tokio::test]
async fn servfail() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(&lab, "servfail.lab.test", "")).await;
    assert_eq!(obs.error_class, ErrorClass::DnsServfail, "{obs:?}");
    assert_eq!(detail(&obs).rcode, "SERVFAIL");
}

#[tokio::test]
async fn refused() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(&lab, "refused.lab.test", "")).await;
    assert_eq!(obs.error_class, ErrorClass::DnsRefused, "{obs:?}");
    assert_eq!(detail(&obs).rcode, "REFUSED");
}

#[tokio::test]
async fn empty_answer_for_the_asked_type() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(&lab, "v6only.lab.test", "    record_type: A\n")).await;
    assert_eq!(obs.error_class, ErrorClass::DnsNoAnswer, "{obs:?}");
}

#[tokio::test]
async fn slow_resolver_crosses_the_threshold() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "slow.lab.test",
        "    latency_threshold: 100ms\n",
    ))
    .await;
    assert_eq!(obs.error_class, ErrorClass::Slow, "{obs:?}");
    assert!(obs.latency >= dns::SLOW_DELAY, "{obs:?}");
    // The same name without a threshold is a plain success.
    let obs = run(&dns_probe(&lab, "slow.lab.test", "")).await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
}

#[tokio::test]
async fn resolver_that_never_answers_times_out() {
    let (_socket, addr) = dns::silent().await;
    let config = probe_config(
        "400ms",
        &format!("    kind: dns\n    name: kv.lab.test\n    server: \"{addr}\"\n"),
    );
    let started = std::time::Instant::now();
    let obs = run(&config).await;
    assert_eq!(obs.error_class, ErrorClass::DnsTimeout, "{obs:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn truncated_udp_answer_falls_back_to_tcp() {
    let lab = dns::start().await;
    let obs = run(&dns_probe(
        &lab,
        "many.lab.test",
        "    must_be_private: true\n",
    ))
    .await;
    assert_eq!(obs.outcome, Outcome::Success, "{obs:?}");
    assert_eq!(detail(&obs).addresses.len(), usize::from(dns::MANY));
    assert!(lab.tcp_queries() >= 1, "the answer did not come over TCP");
}

#[tokio::test]
async fn every_run_asks_the_resolver_again() {
    let lab = dns::start().await;
    let config = dns_probe(&lab, "many.lab.test", "");
    run(&config).await;
    let after_first = lab.tcp_queries();
    run(&config).await;
    assert!(
        lab.tcp_queries() > after_first,
        "the second run was answered from a cache"
    );
}
