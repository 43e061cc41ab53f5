//! The running agent as a whole: probes run concurrently, the admin endpoints
//! answer, and the binary refuses a bad config with a clear message.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use vigil_agent::{Agent, AgentConfig};
use vigil_testkit::eventually;
use vigil_testkit::net::closed_port;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_probe_never_delays_another() {
    // A server that accepts and never answers: the HTTP probe hangs to its timeout.
    let hang = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((c, _)) = hang.accept().await {
            keep.lock().await.push(c);
        }
    });
    let up = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = up.local_addr().unwrap();
    // Nothing listens at the aggregator address: the agent keeps buffering.
    let aggregator = closed_port().await;
    let text = format!(
        r#"
agent: {{ id: a, network: spoke-a }}
aggregator: {{ endpoint: "http://{aggregator}" }}
delivery: {{ batch_max_signals: 1, backoff_initial: 50ms, backoff_max: 100ms }}
admin: {{ listen: "127.0.0.1:0" }}
probes:
  - id: hanging
    kind: http
    url: "http://{hang_addr}/"
    interval: 3s
    timeout: 2s
    component: slow
    layer: workload_application
  - id: quick
    kind: tcp
    address: "{up_addr}"
    interval: 50ms
    timeout: 40ms
    jitter: 0
    component: quick
    layer: workload_application
"#
    );
    let config = AgentConfig::from_yaml(&text, "test.yaml").unwrap();
    let agent = Agent::start(config).await.unwrap();
    // Once the hanging probe is stuck in its request, the quick one must
    // keep producing.
    eventually("hanging probe connected", WAIT, || async {
        (!held.lock().await.is_empty()).then_some(())
    })
    .await;
    let before = agent.stats().signals_produced;
    eventually("quick probe keeps running", WAIT, || async {
        (agent.stats().signals_produced >= before + 5).then_some(())
    })
    .await;
    assert!(!agent.stats().connected);

    let admin = agent.admin_addr().unwrap();
    let ready = reqwest::get(format!("http://{admin}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["connected"], false);
    assert!(body["buffered"].as_u64().unwrap() > 0, "{body}");

    let started = std::time::Instant::now();
    agent.shutdown_within(Duration::from_millis(200)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown must not hang"
    );
    // The admin server is gone after shutdown.
    assert!(
        reqwest::get(format!("http://{admin}/healthz"))
            .await
            .is_err()
    );
}

#[test]
fn binary_refuses_a_bad_config_with_the_message_on_stderr() {
    let dir = std::env::temp_dir().join(format!("vigil-agent-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.yaml");
    std::fs::write(
        &path,
        "agent: { network: spoke-a }\nprobes:\n  - id: a\n    kind: tcp\n    address: 10.0.0.1:443\n    component: c\n    layer: platform_hub\n    timeout: 3x\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_vigil-agent");
    for flag in ["--config", "--check-config"] {
        let out = Command::new(bin).arg(flag).arg(&path).output().unwrap();
        assert!(!out.status.success(), "{flag} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "{}: probes[0].timeout: \"3x\" is not a duration; write e.g. \"500ms\" or \"3s\"",
                path.display()
            )),
            "{stderr}"
        );
    }
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/examples/agent-hub.yaml"
    );
    let out = Command::new(bin)
        .args(["--check-config", example])
        .env_remove("VIGIL_NETWORK")
        .env_remove("VIGIL_ROLE")
        .env_remove("VIGIL_AGGREGATOR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
