//! OTLP export of probe results against real receivers started here: a tonic
//! server implementing the OpenTelemetry collector metrics service (gRPC),
//! and an HTTP server decoding `/v1/metrics` protobuf bodies. Probe data
//! points must arrive with their names, values, attributes and resource;
//! without an `export` section nothing is sent, even when `OTEL_*` points at
//! a collector.

mod common;

use std::time::Duration;

use common::Targets;
use vigil_agent::metrics::DURATION_BUCKETS;
use vigil_agent::{Agent, AgentConfig, AgentHandle};
use vigil_testkit::eventually;
use vigil_testkit::otlp::{Received, attr, grpc_receiver, http_receiver};

const WAIT: Duration = Duration::from_secs(15);

async fn targets() -> Targets {
    Targets::start().await
}

fn agent_yaml(id: &str, t: &Targets, export: &str) -> String {
    t.agent_yaml(
        &format!("{{ id: {id}, network: spoke-a, cluster: aks-a, region: westeurope }}"),
        export,
    )
}

async fn start(text: &str) -> AgentHandle {
    let config = AgentConfig::from_yaml(text, "otlp.yaml").unwrap();
    Agent::start(config).await.unwrap()
}

/// Checks the probe points of one receiver once failures have piled up.
async fn assert_probe_points(received: &Received, t: &Targets, agent_id: &str) {
    let closed_target = t.closed.to_string();
    let open_target = t.open.to_string();
    let failed = eventually("closed probe failures over OTLP", WAIT, || async {
        received
            .latest(
                "vigil.agent.probe.runs",
                &[("probe", "api-closed"), ("outcome", "failure")],
            )
            .filter(|p| p.value >= 3.0)
    })
    .await;
    assert_eq!(attr(&failed.attrs, "kind").as_deref(), Some("tcp"));
    assert_eq!(
        attr(&failed.attrs, "target").as_deref(),
        Some(closed_target.as_str())
    );
    assert_eq!(
        attr(&failed.attrs, "component").as_deref(),
        Some("orders-api")
    );
    assert_eq!(failed.monotonic, Some(true), "runs are a monotonic sum");
    assert_eq!(failed.unit, "{run}");
    assert_eq!(
        attr(&failed.resource, "service.name").as_deref(),
        Some("vigil-agent")
    );
    assert_eq!(
        attr(&failed.resource, "service.instance.id").as_deref(),
        Some(agent_id)
    );
    assert_eq!(
        attr(&failed.resource, "vigil.network").as_deref(),
        Some("spoke-a")
    );
    assert_eq!(
        attr(&failed.resource, "k8s.cluster.name").as_deref(),
        Some("aks-a")
    );
    assert_eq!(
        attr(&failed.resource, "cloud.region").as_deref(),
        Some("westeurope")
    );

    let ok = eventually("open probe successes over OTLP", WAIT, || async {
        received
            .latest(
                "vigil.agent.probe.runs",
                &[("probe", "api-open"), ("outcome", "success")],
            )
            .filter(|p| p.value >= 3.0)
    })
    .await;
    assert_eq!(
        attr(&ok.attrs, "target").as_deref(),
        Some(open_target.as_str())
    );

    let refused = received
        .latest(
            "vigil.agent.probe.failures",
            &[("probe", "api-closed"), ("error_class", "refused")],
        )
        .expect("failures by error class");
    assert!(refused.value >= 1.0, "{refused:?}");
    assert!(
        received
            .latest("vigil.agent.probe.failures", &[("probe", "api-open")])
            .is_none(),
        "the open probe never failed"
    );

    let up_open = received
        .latest("vigil.agent.probe.up", &[("probe", "api-open")])
        .expect("up of open");
    assert_eq!(up_open.value, 1.0);
    assert_eq!(up_open.monotonic, None, "up is a gauge");
    let up_closed = received
        .latest("vigil.agent.probe.up", &[("probe", "api-closed")])
        .expect("up of closed");
    assert_eq!(up_closed.value, 0.0);

    let duration = received
        .latest(
            "vigil.agent.probe.duration",
            &[
                ("probe", "api-closed"),
                ("kind", "tcp"),
                ("target", closed_target.as_str()),
            ],
        )
        .expect("duration histogram");
    assert_eq!(duration.unit, "s");
    let (count, bounds, buckets) = duration.histogram.expect("a histogram point");
    assert!(count >= 1, "{count}");
    assert_eq!(bounds, DURATION_BUCKETS.to_vec());
    assert_eq!(buckets.iter().sum::<u64>(), count);
    assert!(
        duration.value > 0.0 && duration.value < 0.1 * count as f64,
        "sum {}",
        duration.value
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_carries_probe_runs_failures_durations_and_up() {
    let (addr, received, stop) = grpc_receiver().await;
    let t = targets().await;
    let export = format!(
        "export:\n  otlp:\n    endpoint: \"http://{addr}\"\n    protocol: grpc\n    interval: 200ms\n    headers: {{ x-api-key: k-123 }}\n"
    );
    let agent = start(&agent_yaml("otlp-grpc", &t, &export)).await;
    assert_probe_points(&received, &t, "otlp-grpc").await;
    assert!(
        received.api_keys().iter().all(|k| k == "k-123") && !received.api_keys().is_empty(),
        "headers travel as gRPC metadata"
    );
    agent.shutdown_within(Duration::from_millis(100)).await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_export_carries_probe_points() {
    let (addr, received) = http_receiver().await;
    let t = targets().await;
    let export = format!(
        "export:\n  otlp: {{ endpoint: \"http://{addr}\", protocol: http, interval: 200ms, headers: {{ x-api-key: k-456 }} }}\n"
    );
    let agent = start(&agent_yaml("otlp-http", &t, &export)).await;
    assert_probe_points(&received, &t, "otlp-http").await;
    assert!(received.api_keys().contains(&"k-456".to_owned()));
    agent.shutdown_within(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_exports_the_final_results() {
    let (addr, received, stop) = grpc_receiver().await;
    let t = targets().await;
    // No periodic export happens within the test: whatever arrives was
    // sent by shutdown.
    let export = format!("export:\n  otlp: {{ endpoint: \"http://{addr}\", interval: 1h }}\n");
    let agent = start(&agent_yaml("otlp-final", &t, &export)).await;
    let admin = agent.admin_addr().unwrap();
    eventually("probes ran", WAIT, || async {
        let page = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        page.contains(r#"vigil_agent_probe_up{probe="api-closed""#)
            .then_some(())
    })
    .await;
    assert!(
        received.metric_request_count() == 0,
        "nothing before shutdown"
    );
    agent.shutdown_within(Duration::from_millis(100)).await;
    let up = received
        .latest("vigil.agent.probe.up", &[("probe", "api-closed")])
        .expect("shutdown flushed the probe results");
    assert_eq!(up.value, 0.0);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_exported_without_an_export_section() {
    let (addr, received, stop) = grpc_receiver().await;
    let t = targets().await;
    // The environment points at the collector, but the file has no export
    // section and VIGIL_AGENT_OTLP is unset: the agent must stay quiet.
    let endpoint = format!("http://{addr}");
    let quiet_config =
        AgentConfig::from_yaml_with_env(&agent_yaml("quiet", &t, ""), "quiet.yaml", &|k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_METRIC_EXPORT_INTERVAL" => Some("100".to_owned()),
            _ => None,
        })
        .unwrap();
    assert_eq!(quiet_config.export.otlp, None);
    let quiet = Agent::start(quiet_config).await.unwrap();
    // A second agent exporting to the same receiver marks the passage of
    // several export intervals.
    let export = format!("export:\n  otlp: {{ endpoint: \"{endpoint}\", interval: 100ms }}\n");
    let loud = start(&agent_yaml("loud", &t, &export)).await;
    eventually("several exports from the exporting agent", WAIT, || async {
        (received.metric_request_count() >= 3).then_some(())
    })
    .await;
    // A shutdown flushes an exporting agent: this one has nothing to flush.
    quiet.shutdown_within(Duration::from_millis(100)).await;
    loud.shutdown_within(Duration::from_millis(100)).await;
    let senders: Vec<Option<String>> = received
        .points()
        .iter()
        .map(|p| attr(&p.resource, "service.instance.id"))
        .collect();
    assert!(!senders.is_empty());
    assert!(
        senders.iter().all(|s| s.as_deref() == Some("loud")),
        "only the exporting agent sent data: {senders:?}"
    );
    stop.cancel();
}

/// A child process that is killed if the test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The binary reads `VIGIL_AGENT_OTLP` and `OTEL_*` from its environment:
/// with the switch it exports (and flushes on SIGTERM), without it the same
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_only_when_switched_on() {
    let (addr, received, stop) = grpc_receiver().await;
    let t = targets().await;
    let dir = std::env::temp_dir().join(format!("vigil-agent-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spawn = |id: &str, switch: bool| {
        let path = dir.join(format!("{id}.yaml"));
        std::fs::write(&path, agent_yaml(id, &t, "")).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigil-agent"));
        // A clean environment: only what this test means to say.
        cmd.env_clear()
            .arg("--config")
            .arg(&path)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))
            .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if switch {
            cmd.env("VIGIL_AGENT_OTLP", "1");
        }
        Running(cmd.spawn().expect("agent binary starts"))
    };
    let mut plain = spawn("bin-plain", false);
    let mut switched = spawn("bin-switched", true);
    let from = |id: &'static str| {
        let received = received.clone();
        move || {
            received
                .points()
                .iter()
                .filter(|p| attr(&p.resource, "service.instance.id").as_deref() == Some(id))
                .count()
        }
    };
    let switched_points = from("bin-switched");
    eventually("the switched-on binary exports", WAIT, || async {
        (switched_points() > 0 && received.metric_request_count() >= 3).then_some(())
    })
    .await;
    for Running(child) in [&mut plain, &mut switched] {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    for Running(child) in [&mut plain, &mut switched] {
        let exited = eventually("the agent exits on SIGTERM", WAIT, || {
            let status = child.try_wait().unwrap();
            async move { status }
        })
        .await;
        assert!(exited.success(), "{exited:?}");
    }
    assert_eq!(
        from("bin-plain")(),
        0,
        "OTEL_* alone must not turn export on"
    );
    let up = received
        .latest("vigil.agent.probe.up", &[("probe", "api-open")])
        .expect("up point from the binary");
    assert_eq!(up.value, 1.0);
    std::fs::remove_dir_all(&dir).unwrap();
    stop.cancel();
}
