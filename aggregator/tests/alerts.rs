//! Alerts delivered end to end over real HTTP: routing by side, grouping,
//! retries with backoff, and a dead receiver that blocks no one, against
//! local webhook servers (the HMAC signature is verified).

mod alerting;
mod feed;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vigil_alert::payload::{SIGNATURE_HEADER, signature};
use vigil_alert::{AlertService, ReceiverKind};
use vigil_health::attribution::{FaultKind, Suspect};

use alerting::*;
use feed::DEADLINE;
use vigil_testkit::eventually;

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
    config.validate().unwrap();
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
    eventually("sent counted", DEADLINE, || async {
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
        eventually(&format!("live got {want}"), DEADLINE, || {
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
    let ids = eventually("live receiver got all 8 faults", DEADLINE, || async {
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
    let dead_totals = eventually("dead receiver drops", DEADLINE, || async {
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
