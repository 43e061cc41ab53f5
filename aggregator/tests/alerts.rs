//! Alerts end to end: routing by side, dedupe, repeat, resolve, flap guard,
//! retries, and bounded queues, against local webhook servers (the HMAC
//! signature is verified) and a real Prometheus Alertmanager started here on
//! loopback with its own temporary storage.

mod feed;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use feed::{eventually, model, now_ms};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vigil_aggregator::alert::payload::{SIGNATURE_HEADER, signature};
use vigil_aggregator::alert::{
    AlertEngine, AlertService, AlertStatus, AlertsConfig, MinState, ReceiverConfig, ReceiverKind,
    RouteConfig, RouteMatch,
};
use vigil_aggregator::attribution::{
    Certainty, EvidenceItem, Fault, FaultBoard, FaultId, FaultKind, Suspect,
};
use vigil_aggregator::{AggregatorConfig, Snapshot};
use vigil_proto::v1::{ErrorClass, HealthState};

// ---------- fixtures ----------

fn fault(id: u64, suspect: Suspect, kind: FaultKind) -> Fault {
    let now = now_ms();
    Fault {
        id: FaultId(id),
        suspect,
        kind,
        certainty: Certainty::Attributed,
        confidence: 0.9,
        evidence: vec![EvidenceItem {
            agent: "agent-a".into(),
            network: "spoke-a".into(),
            probe_id: "hub-dns-probe".into(),
            target: "10.0.0.4:53".into(),
            total: 10,
            failures: 10,
            class: ErrorClass::DnsServfail,
            example: "SERVFAIL".into(),
        }],
        counter_evidence: Vec::new(),
        networks: vec!["spoke-a".into(), "spoke-b".into()],
        impact: vec!["api".into()],
        silent_agents: Vec::new(),
        nodes: vec!["hub-dns".into()],
        opened_at_ms: now - 5_000,
        updated_at_ms: now,
        closed_at_ms: None,
        reopened: 0,
    }
}

fn hub(component: &str) -> Suspect {
    Suspect::Hub {
        component: component.into(),
    }
}

/// A snapshot of the test model with `open` faults and `resolved` ones.
fn snapshot(generation: u64, open: Vec<Fault>, resolved: Vec<Fault>) -> Arc<Snapshot> {
    let mut s = Snapshot::initial(Arc::new(model()), now_ms());
    s.generation = generation;
    s.faults = Arc::new(FaultBoard {
        open,
        resolved,
        ..Default::default()
    });
    Arc::new(s)
}

fn closed(mut f: Fault) -> Fault {
    f.closed_at_ms = Some(now_ms());
    f
}

fn route(side: &str, receivers: &[&str]) -> RouteConfig {
    RouteConfig {
        matches: RouteMatch {
            side: vec![side.into()],
            ..Default::default()
        },
        receivers: receivers.iter().map(|r| r.to_string()).collect(),
        continue_matching: false,
    }
}

fn receiver(name: &str, kind: ReceiverKind) -> ReceiverConfig {
    let mut r = ReceiverConfig::new(name, kind);
    r.backoff = Duration::from_millis(50);
    r.max_backoff = Duration::from_millis(200);
    r.timeout = Duration::from_secs(2);
    r
}

fn alerts_config(receivers: Vec<ReceiverConfig>, routes: Vec<RouteConfig>) -> AlertsConfig {
    AlertsConfig {
        link: Some("http://vigil.test:7401".into()),
        group_wait: Duration::from_millis(100),
        receivers,
        routes,
        ..Default::default()
    }
}

// ---------- a local webhook server ----------

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Hooks {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Failures to answer per path before succeeding.
    fail_first: Arc<Mutex<BTreeMap<String, usize>>>,
    attempts: Arc<AtomicUsize>,
}

impl Hooks {
    fn on(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    fn json(&self, path: &str) -> Vec<Value> {
        self.on(path)
            .iter()
            .map(|h| serde_json::from_slice(&h.body).expect("JSON body"))
            .collect()
    }
}

async fn hooks() -> (SocketAddr, Hooks) {
    async fn hit(
        State(h): State<Hooks>,
        Path(path): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        h.attempts.fetch_add(1, Ordering::SeqCst);
        {
            let mut fail = h.fail_first.lock().unwrap();
            if let Some(n) = fail.get_mut(&path)
                && *n > 0
            {
                *n -= 1;
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
        h.hits.lock().unwrap().push(Hit {
            path,
            headers,
            body,
        });
        StatusCode::OK
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = Hooks::default();
    let app = axum::Router::new()
        .route("/{path}", axum::routing::post(hit))
        .with_state(h.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, h)
}

async fn wait_hits(h: &Hooks, path: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} notifications on /{path}"), || async {
        let got = h.json(path);
        if got.len() >= n {
            Ok(got)
        } else {
            Err(format!("{} so far", got.len()))
        }
    })
    .await
}

// ---------- service-level tests over real HTTP ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_fault_pages_platform_tells_workload_and_resolves() {
    let (addr, h) = hooks().await;
    let config = alerts_config(
        vec![
            receiver(
                "platform-hook",
                ReceiverKind::Webhook {
                    url: format!("http://{addr}/platform"),
                    secret: Some("s3cret".into()),
                },
            ),
            receiver(
                "workload-slack",
                ReceiverKind::Slack {
                    url: format!("http://{addr}/slack"),
                },
            ),
            receiver(
                "workload-hook",
                ReceiverKind::Webhook {
                    url: format!("http://{addr}/workload"),
                    secret: None,
                },
            ),
        ],
        vec![
            route("platform", &["platform-hook", "workload-slack"]),
            route("workload", &["workload-hook"]),
        ],
    );
    config.validate("test").unwrap();
    let stop = CancellationToken::new();
    let dns = fault(1, hub("hub-dns"), FaultKind::Outage);
    let (tx, rx) = watch::channel(snapshot(1, vec![dns.clone()], vec![]));
    let service = AlertService::spawn(config, rx, &|_| None, stop.clone()).unwrap();

    let platform = wait_hits(&h, "platform", 1).await;
    let body = &platform[0];
    assert_eq!(body["version"], "vigil.alerts/v1");
    assert_eq!(body["receiver"], "platform-hook");
    assert_eq!(body["status"], "firing");
    let alert = &body["alerts"][0];
    assert_eq!(alert["labels"]["fault_id"], "F-000001");
    assert_eq!(alert["labels"]["side"], "platform");
    assert_eq!(alert["labels"]["component"], "hub-dns");
    assert_eq!(alert["labels"]["node"], "hub-dns");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["layer"], "platform_hub");
    assert_eq!(
        alert["link"],
        "http://vigil.test:7401/api/v1/faults/F-000001"
    );
    assert!(
        alert["annotations"]["evidence"]
            .as_str()
            .unwrap()
            .contains("agent-a (spoke-a)"),
        "{alert}"
    );
    // The signature is an HMAC-SHA256 of the exact body.
    let hit = &h.on("platform")[0];
    let sig = hit.headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(sig, signature("s3cret", &hit.body));
    assert_ne!(sig, signature("wrong", &hit.body));

    // The workload team hears it is not theirs, with the fault id.
    let slack = wait_hits(&h, "slack", 1).await;
    let text = slack[0]["text"].as_str().unwrap();
    assert!(text.contains("F-000001"), "{text}");
    assert!(text.contains("Not a workload fault"), "{text}");
    assert!(
        h.on("workload").is_empty(),
        "platform faults skip the workload pager"
    );

    // Same state again: deduplicated. Then the fault resolves.
    tx.send_replace(snapshot(2, vec![dns.clone()], vec![]));
    tx.send_replace(snapshot(3, vec![dns.clone()], vec![]));
    tx.send_replace(snapshot(4, vec![], vec![closed(dns.clone())]));
    let platform = wait_hits(&h, "platform", 2).await;
    assert_eq!(platform.len(), 2, "one firing, one resolved: {platform:?}");
    assert_eq!(platform[1]["status"], "resolved");
    assert_eq!(platform[1]["alerts"][0]["status"], "resolved");
    assert!(platform[1]["alerts"][0]["ends_at"].is_string());

    // A workload fault goes to the workload pager only.
    let api = fault(
        2,
        Suspect::Workload {
            component: "api".into(),
        },
        FaultKind::Outage,
    );
    tx.send_replace(snapshot(5, vec![api], vec![]));
    let workload = wait_hits(&h, "workload", 1).await;
    assert_eq!(workload[0]["alerts"][0]["labels"]["side"], "workload");
    assert!(h.on("workload")[0].headers.get(SIGNATURE_HEADER).is_none());
    assert_eq!(h.on("platform").len(), 2);
    let totals = service.stats.totals();
    let platform_totals = totals
        .iter()
        .find(|t| t.receiver == "platform-hook")
        .unwrap();
    assert_eq!(platform_totals.sent, 2);
    assert_eq!(platform_totals.dropped, 0);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_of_one_group_travel_together() {
    let (addr, h) = hooks().await;
    let mut config = alerts_config(
        vec![receiver(
            "hook",
            ReceiverKind::Webhook {
                url: format!("http://{addr}/grouped"),
                secret: None,
            },
        )],
        vec![route("platform", &["hook"])],
    );
    config.group_wait = Duration::from_millis(300);
    let stop = CancellationToken::new();
    let fw = |id, kind| fault(id, hub("hub-firewall"), kind);
    let (_tx, rx) = watch::channel(snapshot(
        1,
        vec![
            fw(7, FaultKind::Outage),
            fw(8, FaultKind::SecurityDrift),
            fault(9, hub("hub-dns"), FaultKind::Outage),
        ],
        vec![],
    ));
    let _service = AlertService::spawn(config, rx, &|_| None, stop.clone()).unwrap();
    let bodies = wait_hits(&h, "grouped", 2).await;
    let firewall = bodies
        .iter()
        .find(|b| b["group_key"] == "component=hub-firewall,side=platform")
        .expect("firewall group");
    assert_eq!(
        firewall["alerts"].as_array().unwrap().len(),
        2,
        "{firewall}"
    );
    let dns = bodies
        .iter()
        .find(|b| b["group_key"] == "component=hub-dns,side=platform")
        .expect("dns group");
    assert_eq!(dns["alerts"].as_array().unwrap().len(), 1);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sends_are_retried_with_backoff() {
    let (addr, h) = hooks().await;
    h.fail_first.lock().unwrap().insert("flaky".into(), 2);
    let config = alerts_config(
        vec![receiver(
            "flaky",
            ReceiverKind::Webhook {
                url: format!("http://{addr}/flaky"),
                secret: None,
            },
        )],
        vec![route("platform", &["flaky"])],
    );
    let stop = CancellationToken::new();
    let (_tx, rx) = watch::channel(snapshot(
        1,
        vec![fault(1, hub("hub-dns"), FaultKind::Outage)],
        vec![],
    ));
    let service = AlertService::spawn(config, rx, &|_| None, stop.clone()).unwrap();
    wait_hits(&h, "flaky", 1).await;
    assert_eq!(
        h.attempts.load(Ordering::SeqCst),
        3,
        "two 503s, then success"
    );
    eventually("sent counted", || async {
        let t = service.stats.totals();
        if t[0].sent == 1 && t[0].failed == 0 {
            Ok(())
        } else {
            Err(format!("{t:?}"))
        }
    })
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_drops_its_own_notifications_and_blocks_no_one() {
    let (addr, h) = hooks().await;
    // Accepts connections and never answers.
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = black_hole.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    tokio::spawn(async move {
        while let Ok((sock, _)) = black_hole.accept().await {
            keep.lock().unwrap().push(sock);
        }
    });
    let mut dead = receiver(
        "dead",
        ReceiverKind::Webhook {
            url: format!("http://{dead_addr}/x"),
            secret: None,
        },
    );
    dead.queue = 1;
    dead.timeout = Duration::from_secs(30);
    let live = receiver(
        "live",
        ReceiverKind::Webhook {
            url: format!("http://{addr}/live"),
            secret: None,
        },
    );
    let mut config = alerts_config(vec![dead, live], vec![route("platform", &["dead", "live"])]);
    config.group_by = vec!["fault_id".into()];
    let stop = CancellationToken::new();
    let (tx, rx) = watch::channel(snapshot(0, vec![], vec![]));
    let service = AlertService::spawn(config, rx, &|_| None, stop.clone()).unwrap();
    let mut open = Vec::new();
    for id in 1..=8 {
        open.push(fault(id, hub(&format!("hub-svc-{id}")), FaultKind::Outage));
        tx.send_replace(snapshot(id, open.clone(), vec![]));
        // One generation at a time: the live receiver has it before the next.
        let want = format!("F-{id:06}");
        eventually(&format!("live got {want}"), || {
            let got = h.json("live").iter().any(|b| {
                b["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["labels"]["fault_id"] == want.as_str())
            });
            async move { if got { Ok(()) } else { Err("not yet".into()) } }
        })
        .await;
    }
    let ids = eventually("live receiver got all 8 faults", || async {
        let ids: std::collections::BTreeSet<String> = h
            .json("live")
            .iter()
            .flat_map(|b| b["alerts"].as_array().unwrap().clone())
            .map(|a| a["labels"]["fault_id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() == 8 {
            Ok(ids)
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    assert!(ids.contains("F-000008"));
    let dead_totals = eventually("dead receiver drops", || async {
        let t = service.stats.totals();
        let d = t.iter().find(|t| t.receiver == "dead").unwrap().clone();
        if d.dropped > 0 {
            Ok(d)
        } else {
            Err(format!("{d:?}"))
        }
    })
    .await;
    assert_eq!(dead_totals.sent, 0);
    stop.cancel();
}

// ---------- engine-level tests with an explicit clock ----------

fn engine_config() -> AlertsConfig {
    let mut c = alerts_config(
        vec![receiver(
            "am",
            ReceiverKind::Alertmanager {
                url: "http://127.0.0.1:9".into(),
            },
        )],
        vec![RouteConfig {
            matches: RouteMatch::default(),
            receivers: vec!["am".into()],
            continue_matching: false,
        }],
    );
    c.flap.window = Duration::from_secs(10);
    c.flap.max_changes = 2;
    c
}

#[test]
fn firing_alerts_repeat_on_the_receivers_interval_only() {
    let mut e = AlertEngine::new(engine_config());
    let f = fault(1, hub("hub-dns"), FaultKind::Outage);
    let s = snapshot(1, vec![f], vec![]);
    assert_eq!(e.step(&s, 0).len(), 1);
    assert_eq!(e.step(&s, 30_000).len(), 0, "deduplicated");
    let again = e.step(&s, 61_000);
    assert_eq!(again.len(), 1, "Alertmanager default repeat is 1m");
    assert_eq!(again[0].alert.status, AlertStatus::Firing);
}

#[test]
fn a_flapping_alert_is_held_until_stable() {
    let mut e = AlertEngine::new(engine_config());
    let f = fault(1, hub("hub-dns"), FaultKind::Outage);
    let on = snapshot(1, vec![f.clone()], vec![]);
    let off = snapshot(2, vec![], vec![closed(f)]);
    let sent = |d: Vec<vigil_aggregator::alert::Delivery>| -> Vec<AlertStatus> {
        d.into_iter().map(|d| d.alert.status).collect()
    };
    assert_eq!(sent(e.step(&on, 0)), vec![AlertStatus::Firing]);
    assert_eq!(sent(e.step(&off, 1_000)), vec![AlertStatus::Resolved]);
    assert_eq!(
        sent(e.step(&on, 2_000)),
        vec![],
        "third change in 10s: held"
    );
    assert_eq!(sent(e.step(&off, 3_000)), vec![]);
    assert_eq!(sent(e.step(&on, 4_000)), vec![]);
    assert_eq!(sent(e.step(&on, 9_000)), vec![], "still within the window");
    // Stable for a whole window: the current state goes out once.
    assert_eq!(sent(e.step(&on, 15_000)), vec![AlertStatus::Firing]);
    assert_eq!(sent(e.step(&on, 16_000)), vec![]);
}

#[test]
fn node_states_alert_at_or_above_the_configured_level_never_on_unknown() {
    let mut c = engine_config();
    c.nodes.min_state = MinState::Degraded;
    let mut e = AlertEngine::new(c);
    let mut s = Snapshot::initial(Arc::new(model()), 0);
    let (dns, _) = s.find("hub-dns").unwrap();
    s.nodes[dns.get()].state = HealthState::Unhealthy;
    s.nodes[dns.get()].reason = "100% SERVFAIL".into();
    let out = e.step(&s, 0);
    assert_eq!(
        out.len(),
        1,
        "api-a is Unknown: no alert; groups are not leaves"
    );
    let a = &out[0].alert;
    assert_eq!(a.label("alertname"), Some("VigilNodeState"));
    assert_eq!(a.label("node"), Some("hub-dns"));
    assert_eq!(a.label("severity"), Some("critical"));
    assert_eq!(a.label("side"), Some("platform"));
    assert!(
        a.annotations["summary"].contains("unhealthy"),
        "{:?}",
        a.annotations
    );
    s.nodes[dns.get()].state = HealthState::Healthy;
    let out = e.step(&s, 1_000);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alert.status, AlertStatus::Resolved);
}

#[test]
fn config_errors_name_the_field_and_the_fix() {
    let yaml = r#"
model: m.yaml
alerts:
  receivers:
    - name: pager
      alertmanager: { url: "http://am:9093" }
  routes:
    - match: { side: platform }
      receivers: [pagr]
"#;
    let e = AggregatorConfig::from_yaml(yaml, "/etc/vigil/agg.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/etc/vigil/agg.yaml"), "{e}");
    assert!(e.contains("alerts.routes[0].receivers"), "{e}");
    assert!(e.contains("`pagr` is not a receiver"), "{e}");
    let yaml = r#"
model: m.yaml
alerts:
  receivers:
    - name: both
      slack: { url: "http://s" }
      webhook: { url: "http://w" }
"#;
    let e = AggregatorConfig::from_yaml(yaml, "agg.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("exactly one of"), "{e}");
    let yaml = "model: m.yaml\nalerts:\n  recievers: []\n";
    let e = AggregatorConfig::from_yaml(yaml, "agg.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("recievers"), "typos are errors: {e}");
}

// ---------- a real Alertmanager ----------

struct Alertmanager {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `prometheus-alertmanager` (Debian) on loopback, or explains why not.
async fn alertmanager() -> Option<Alertmanager> {
    let bin = "prometheus-alertmanager";
    if Command::new(bin).arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{bin} is missing under CI: tests/run must install the Debian `prometheus-alertmanager` package"
            );
        }
        eprintln!(
            "SKIP real Alertmanager test: {bin} not installed (apt-get install prometheus-alertmanager)"
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("vigil-am-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("am.yml"),
        "route:\n  receiver: blackhole\n  group_by: [side, component]\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(bin)
        .arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alertmanager starts");
    let am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let ready = format!("{}/-/ready", am.url);
    eventually("alertmanager ready", || {
        let ready = ready.clone();
        async move {
            match reqwest::get(&ready).await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await;
    Some(am)
}

async fn am_get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alertmanager_gets_labels_groups_and_resolves() {
    let Some(am) = alertmanager().await else {
        return;
    };
    let config = alerts_config(
        vec![receiver(
            "platform-am",
            ReceiverKind::Alertmanager {
                url: am.url.clone(),
            },
        )],
        vec![route("platform", &["platform-am"])],
    );
    let stop = CancellationToken::new();
    let outage = fault(11, hub("hub-firewall"), FaultKind::Outage);
    let drift = fault(12, hub("hub-firewall"), FaultKind::SecurityDrift);
    let (tx, rx) = watch::channel(snapshot(1, vec![outage.clone(), drift.clone()], vec![]));
    let _service = AlertService::spawn(config, rx, &|_| None, stop.clone()).unwrap();

    let alerts_url = format!("{}/api/v2/alerts", am.url);
    let alerts = eventually("both alerts in Alertmanager", || async {
        let v = am_get(&alerts_url).await;
        if v.as_array().map_or(0, Vec::len) == 2 {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await;
    let by_id = |id: &str| {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["fault_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {alerts}"))
    };
    let a = by_id("F-000011");
    for (k, v) in [
        ("alertname", "VigilFault"),
        ("side", "platform"),
        ("component", "hub-firewall"),
        ("network", "hub"),
        ("severity", "critical"),
        ("kind", "outage"),
    ] {
        assert_eq!(a["labels"][k], v, "label {k} in {a}");
    }
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("platform/hub/hub-firewall")
    );
    assert_eq!(
        a["generatorURL"],
        "http://vigil.test:7401/api/v1/faults/F-000011"
    );
    assert_eq!(by_id("F-000012")["labels"]["kind"], "security_drift");

    // Alertmanager grouped them by side and component, as configured there.
    let groups_url = format!("{}/api/v2/alerts/groups", am.url);
    let groups = eventually("one group of two", || async {
        let g = am_get(&groups_url).await;
        let ok = g.as_array().is_some_and(|gs| {
            gs.iter().any(|g| {
                g["labels"]["component"] == "hub-firewall"
                    && g["labels"]["side"] == "platform"
                    && g["alerts"].as_array().map_or(0, Vec::len) == 2
            })
        });
        if ok { Ok(g) } else { Err(g.to_string()) }
    })
    .await;
    assert!(!groups.as_array().unwrap().is_empty());

    // Resolve the outage: Alertmanager gets endsAt and drops it from active.
    tx.send_replace(snapshot(
        2,
        vec![drift.clone()],
        vec![closed(outage.clone())],
    ));
    let active_url = format!(
        "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
        am.url
    );
    eventually("F-000011 resolved in Alertmanager", || async {
        let v = am_get(&active_url).await;
        let ids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["status"]["state"] == "active")
            .map(|a| a["labels"]["fault_id"].as_str().unwrap_or("").to_string())
            .collect();
        if ids == ["F-000012"] {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    stop.cancel();
}
