//! Ingest limits against a real aggregator over real gRPC streams: an agent
//! over its rate is paced, then refused with `RESOURCE_EXHAUSTED` and told
//! when to come back; the distinct probes of an agent are capped; a newer
//! stream of an agent ends its oldest beyond `max_streams_per_agent`; the
//! total number of streams is capped; labels and strings have sizes. Every
//! breach is counted by reason.

mod feed;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use feed::DEADLINE;
use tonic::Code;
use vigil_aggregator::ingest::RejectReason;
use vigil_aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use vigil_proto::v1::{
    ErrorClass, Layer, Outcome, ProbeDeclaration, ProbeKind, Signal, StreamRequest, stream_response,
};
use vigil_testkit::config::{Evaluation, OPEN, aggregator_yaml_with};
use vigil_testkit::ingest::{self, IngestStream};
use vigil_testkit::now_ms;

async fn start(ingest: &str) -> AggregatorHandle {
    let yaml = format!(
        "{}ingest:\n{ingest}",
        aggregator_yaml_with(&Evaluation::FAST, OPEN)
    );
    let config = AggregatorConfig::from_yaml(&yaml, "limits-test.yaml").expect("valid config");
    Aggregator::start(config, feed::model())
        .await
        .expect("aggregator starts")
}

fn probe(index: u32, id: &str) -> ProbeDeclaration {
    ProbeDeclaration {
        index,
        probe_id: id.into(),
        kind: ProbeKind::Dns as i32,
        target: "10.0.0.4:53".into(),
        component: "hub-dns".into(),
        layer: Layer::PlatformHub as i32,
        labels: Default::default(),
        interval_ms: 1000,
    }
}

fn successes(n: usize) -> Vec<Signal> {
    (0..n)
        .map(|_| Signal {
            probe_index: 0,
            outcome: Outcome::Success as i32,
            latency_us: 500,
            ..Default::default()
        })
        .collect()
}

/// An identified stream of `agent` with probe 0 declared.
async fn agent(addr: SocketAddr, agent: &str) -> IngestStream {
    let mut s = IngestStream::open(addr).await;
    s.send(ingest::hello(agent, "spoke-a", 1)).await;
    match s.reply(DEADLINE).await {
        Ok(stream_response::Message::Welcome(_)) => {}
        other => panic!("expected Welcome, got {other:?}"),
    }
    s.send(ingest::declare(vec![probe(0, "hub-dns-probe")]))
        .await;
    s
}

async fn acked(s: &mut IngestStream, sequence: u64) {
    match s.reply(DEADLINE).await {
        Ok(stream_response::Message::Ack(a)) => assert_eq!(a.sequence, sequence),
        other => panic!("expected Ack {sequence}, got {other:?}"),
    }
}

fn batch(sequence: u64, n: usize) -> StreamRequest {
    ingest::batch(sequence, now_ms(), successes(n), 0)
}

fn metadata_u64(status: &tonic::Status, key: &str) -> Option<u64> {
    status.metadata().get(key)?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn an_agent_over_its_rate_is_paced_then_refused_and_told_when_to_return() {
    let agg = start("  rate_limit: { signals_per_second: 200, burst: 100, max_delay: 1s }\n").await;
    let addr = agg.grpc_addr();

    // Within the burst: applied at once. Beyond it, each batch of 100 costs
    // half a second, which the stream is then held for.
    let mut a = agent(addr, "pacer").await;
    a.send(batch(1, 100)).await;
    acked(&mut a, 1).await;
    let started = Instant::now();
    a.send(batch(2, 100)).await;
    a.send(batch(3, 100)).await;
    acked(&mut a, 2).await;
    acked(&mut a, 3).await;
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "batch 3 was read before batch 2's half second was paid: {:?}",
        started.elapsed()
    );
    let stats = agg.ingest_stats();
    assert!(stats.throttled_batches >= 2, "{stats:?}");
    assert_eq!(stats.signals_applied, 300, "pacing loses nothing");

    // A batch that would have to wait 2 s, longer than max_delay: refused,
    // not poison (no sequence to drop), with when to come back.
    let mut b = agent(addr, "flooder").await;
    b.send(batch(1, 100)).await;
    acked(&mut b, 1).await;
    b.send(batch(2, 400)).await;
    let status = b.reply(DEADLINE).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("rate limit"), "{status:?}");
    assert_eq!(
        metadata_u64(&status, vigil_proto::REJECTED_SEQUENCE_KEY),
        Some(0)
    );
    let retry = metadata_u64(&status, vigil_proto::RETRY_AFTER_MS_KEY).expect("retry-after");
    assert!((1500..=2100).contains(&retry), "retry after {retry} ms");
    assert_eq!(
        agg.ingest_stats().rejected.get(RejectReason::RateLimited),
        1
    );
    // The pacer, another agent, was not touched by the flooder's refusal.
    a.send(batch(4, 1)).await;
    acked(&mut a, 4).await;
    agg.shutdown().await;
}

#[tokio::test]
async fn the_distinct_probes_of_an_agent_are_capped_and_redeclaring_is_free() {
    let agg = start("  max_probes_per_agent: 2\n").await;
    let addr = agg.grpc_addr();
    let declared = vec![probe(0, "p0"), probe(1, "p1")];

    let mut s = IngestStream::open(addr).await;
    s.send(ingest::hello("many", "spoke-a", 1)).await;
    assert!(s.reply(DEADLINE).await.is_ok());
    s.send(ingest::declare(declared.clone())).await;
    s.send(batch(1, 1)).await;
    acked(&mut s, 1).await;
    s.send(ingest::declare(vec![probe(2, "p2")])).await;
    let status = s.reply(DEADLINE).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_probes_per_agent"),
        "{status:?}"
    );

    // A reconnect declaring the same probes again adds none.
    let mut again = IngestStream::open(addr).await;
    again.send(ingest::hello("many", "spoke-a", 1)).await;
    assert!(again.reply(DEADLINE).await.is_ok());
    again.send(ingest::declare(declared)).await;
    again.send(batch(2, 1)).await;
    acked(&mut again, 2).await;
    assert_eq!(
        agg.ingest_stats().rejected.get(RejectReason::TooManyProbes),
        1
    );
    agg.shutdown().await;
}

#[tokio::test]
async fn a_newer_stream_of_an_agent_ends_its_oldest() {
    let agg = start("  max_streams_per_agent: 1\n").await;
    let addr = agg.grpc_addr();
    let mut old = agent(addr, "twice").await;
    old.send(batch(1, 1)).await;
    acked(&mut old, 1).await;

    // The agent reconnects while its old stream still looks open.
    let mut new = agent(addr, "twice").await;
    let status = old.reply(DEADLINE).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("newer stream"), "{status:?}");
    new.send(batch(2, 1)).await;
    acked(&mut new, 2).await;
    assert_eq!(agg.ingest_stats().rejected.get(RejectReason::Superseded), 1);
    agg.shutdown().await;
}

#[tokio::test]
async fn streams_beyond_max_streams_are_refused_until_one_closes() {
    let agg = start("  max_streams: 2\n").await;
    let addr = agg.grpc_addr();
    let first = agent(addr, "one").await;
    let _second = agent(addr, "two").await;
    let status =
        ingest::rejection(addr, vec![ingest::hello("three", "spoke-a", 1)], DEADLINE).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("max_streams"), "{status:?}");
    assert_eq!(
        agg.ingest_stats()
            .rejected
            .get(RejectReason::TooManyStreams),
        1
    );

    // One leaves: there is room again.
    drop(first);
    vigil_testkit::eventually("a stream slot to free", DEADLINE, || async {
        match agg.ingest_stats().streams_open {
            n if n < 2 => Ok(()),
            n => Err(format!("{n} streams open")),
        }
    })
    .await;
    let mut third = agent(addr, "three").await;
    third.send(batch(1, 1)).await;
    acked(&mut third, 1).await;
    agg.shutdown().await;
}

#[tokio::test]
async fn labels_and_strings_have_sizes_and_long_messages_are_cut_not_lost() {
    let agg = start("  max_batch_signals: 10000\n").await;
    let addr = agg.grpc_addr();
    let hello = || ingest::hello("strings", "spoke-a", 1);

    let mut many = probe(0, "p0");
    many.labels = (0..33).map(|i| (format!("k{i}"), "v".into())).collect();
    let status =
        ingest::rejection(addr, vec![hello(), ingest::declare(vec![many])], DEADLINE).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("declarations.probes[0].labels has 33 labels"),
        "{status:?}"
    );

    let mut long_value = probe(0, "p0");
    long_value.labels = [("zone".to_string(), "z".repeat(300))].into();
    let status = ingest::rejection(
        addr,
        vec![hello(), ingest::declare(vec![long_value])],
        DEADLINE,
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("labels.zone"), "{status:?}");

    let mut long_target = probe(0, "p0");
    long_target.target = "t".repeat(5000);
    let status = ingest::rejection(
        addr,
        vec![hello(), ingest::declare(vec![long_target])],
        DEADLINE,
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("target"), "{status:?}");

    // A failure with a very long error text is kept, its text cut.
    let mut s = agent(addr, "strings").await;
    let failure = Signal {
        probe_index: 0,
        outcome: Outcome::Failure as i32,
        error_class: ErrorClass::DnsServfail as i32,
        message: "é".repeat(3000),
        ..Default::default()
    };
    s.send(ingest::batch(1, now_ms(), vec![failure], 0)).await;
    acked(&mut s, 1).await;
    let node = vigil_testkit::query::node(addr, "hub-dns")
        .await
        .expect("node answers");
    let kept = node
        .recent_signals
        .iter()
        .find(|r| r.outcome() == Outcome::Failure)
        .expect("the failure is kept");
    assert!(
        kept.message.len() <= 1024 && kept.message.len() >= 1000,
        "message of {} bytes",
        kept.message.len()
    );
    assert!(
        kept.message.chars().all(|c| c == 'é'),
        "cut on a character boundary"
    );
    agg.shutdown().await;
}

#[test]
fn limit_and_identity_settings_name_the_field_and_the_fix() {
    let base = "model: m.yaml\ninsecure: { plaintext: true }\n";
    for (yaml, field) in [
        (
            "ingest:\n  rate_limit: { signals_per_second: 0 }\n",
            "ingest.rate_limit.signals_per_second",
        ),
        (
            "ingest:\n  rate_limit: { burst: -1 }\n",
            "ingest.rate_limit.burst",
        ),
        (
            "ingest:\n  rate_limit: { max_delay: 5m }\n",
            "ingest.rate_limit.max_delay",
        ),
        (
            "ingest:\n  max_probes_per_agent: 0\n",
            "ingest.max_probes_per_agent",
        ),
        ("ingest:\n  max_streams: 0\n", "ingest.max_streams"),
        (
            "ingest:\n  max_streams_per_agent: 0\n",
            "ingest.max_streams_per_agent",
        ),
    ] {
        let e = AggregatorConfig::from_yaml(&format!("{base}{yaml}"), "/etc/vigil/agg.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/etc/vigil/agg.yaml") && e.contains(field),
            "{field}: {e}"
        );
    }
    let e = AggregatorConfig::from_yaml(
        &format!("{base}ingest:\n  rate_limit: {{ per_second: 10 }}\n"),
        "agg.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("per_second"), "unknown fields are errors: {e}");

    let tls = |subjects: &str| {
        format!(
            "model: m.yaml\ntls:\n  cert: a.crt\n  key: a.key\n  client_ca: ca.crt\n  subjects:\n{subjects}"
        )
    };
    for (subjects, says) in [
        (
            "    - { common_name: a.corp, network: hub, agent_id: a }\n    - { common_name: a.corp, network: hub, agent_id: b }\n",
            "mapped twice",
        ),
        (
            "    - { common_name: a.corp, network: \"\", agent_id: a }\n",
            "empty field",
        ),
        (
            "    - { common_name: a.corp, network: hub/x, agent_id: a }\n",
            "`/`",
        ),
    ] {
        let config = AggregatorConfig::from_yaml(&tls(subjects), "agg.yaml").expect("parses");
        let e = config.transport("agg.yaml").unwrap_err().to_string();
        assert!(e.contains("tls.subjects") && e.contains(says), "{e}");
    }
}
