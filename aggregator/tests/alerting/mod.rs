//! Shared by the alert suites: faults and snapshots to feed the alert
//! engine, alert configs with short timers, and a local webhook server that
//! records what it is sent (and can refuse the first attempts).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use vigil_alert::{AlertsConfig, ReceiverConfig, ReceiverKind, RouteConfig, RouteMatch};
use vigil_health::Snapshot;
use vigil_health::attribution::observe::LeafIndex;
use vigil_health::attribution::{
    Certainty, EvidenceItem, Fault, FaultBoard, FaultId, FaultKind, Suspect,
};
use vigil_proto::v1::ErrorClass;

use crate::feed::{DEADLINE, model};
use vigil_testkit::{eventually, now_ms};

/// An open fault on `suspect`, its model nodes named as attribution names
/// them.
pub fn fault(id: u64, suspect: Suspect, kind: FaultKind) -> Fault {
    let now = now_ms();
    let mut f = Fault {
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
        suspect_nodes: Vec::new(),
        impact_nodes: Vec::new(),
        opened_at_ms: now - 5_000,
        updated_at_ms: now,
        closed_at_ms: None,
        reopened: 0,
    };
    LeafIndex::new(&model()).name_nodes(&mut f);
    f
}

pub fn hub(component: &str) -> Suspect {
    Suspect::Hub {
        component: component.into(),
    }
}

/// A snapshot of the test model with `open` faults and `resolved` ones.
pub fn snapshot(generation: u64, open: Vec<Fault>, resolved: Vec<Fault>) -> Arc<Snapshot> {
    let mut s = Snapshot::initial(Arc::new(model()), now_ms());
    s.generation = generation;
    s.faults = Arc::new(FaultBoard {
        open,
        resolved,
        ..Default::default()
    });
    Arc::new(s)
}

pub fn closed(mut f: Fault) -> Fault {
    f.closed_at_ms = Some(now_ms());
    f
}

pub fn route(side: &str, receivers: &[&str]) -> RouteConfig {
    RouteConfig {
        matches: RouteMatch {
            side: vec![side.into()],
            ..Default::default()
        },
        receivers: receivers.iter().map(|r| r.to_string()).collect(),
        continue_matching: false,
    }
}

pub fn receiver(name: &str, kind: ReceiverKind) -> ReceiverConfig {
    let mut r = ReceiverConfig::new(name, kind);
    r.backoff = Duration::from_millis(50);
    r.max_backoff = Duration::from_millis(200);
    r.timeout = Duration::from_secs(2);
    r
}

pub fn alerts_config(receivers: Vec<ReceiverConfig>, routes: Vec<RouteConfig>) -> AlertsConfig {
    AlertsConfig {
        link: Some("http://vigil.test:7401".into()),
        group_wait: Duration::from_millis(100),
        receivers,
        routes,
        ..Default::default()
    }
}

// A local webhook server.

#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
pub struct Hooks {
    pub hits: Arc<Mutex<Vec<Hit>>>,
    /// Failures to answer per path before succeeding.
    pub fail_first: Arc<Mutex<BTreeMap<String, usize>>>,
    pub attempts: Arc<AtomicUsize>,
}

impl Hooks {
    pub fn on(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    pub fn json(&self, path: &str) -> Vec<Value> {
        self.on(path)
            .iter()
            .map(|h| serde_json::from_slice(&h.body).expect("JSON body"))
            .collect()
    }
}

pub async fn hooks() -> (SocketAddr, Hooks) {
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

pub async fn wait_hits(h: &Hooks, path: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} notifications on /{path}"),
        DEADLINE,
        || async {
            let got = h.json(path);
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} so far", got.len()))
            }
        },
    )
    .await
}
