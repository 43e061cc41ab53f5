//! Alerts against a real Prometheus Alertmanager started here on loopback
//! with its own temporary storage: labels, grouping and resolution.

mod alerting;
mod feed;

use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vigil_alert::{AlertService, ReceiverKind};
use vigil_health::attribution::FaultKind;

use alerting::*;
use feed::DEADLINE;
use vigil_testkit::{eventually, now_ms, peer};

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
    if !peer::available(bin, "prometheus-alertmanager", "real Alertmanager test") {
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
    eventually("alertmanager ready", DEADLINE, || {
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
    let alerts = eventually("both alerts in Alertmanager", DEADLINE, || async {
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
    let groups = eventually("one group of two", DEADLINE, || async {
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
    eventually("F-000011 resolved in Alertmanager", DEADLINE, || async {
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
