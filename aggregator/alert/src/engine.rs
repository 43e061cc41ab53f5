//! When to notify whom: turns each snapshot into the set of alerts that
//! should be firing, compares it with what was already said, and yields
//! deliveries per receiver (fire, update, repeat, resolve), holding back an
//! alert that flaps.
//!
//! Level-based on purpose: a watch channel may skip snapshots, so the engine
//! never relies on seeing every change event, only on the latest state. Pure
//! and synchronous; sending is the receivers' job.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use vigil_proto::v1::HealthState;

use super::compose::{Alert, AlertStatus, fault_alert, node_alert};
use super::config::{AlertsConfig, MinState};
use super::route::Router;
use vigil_health::snapshot::Snapshot;
use vigil_model::NodeRole;

/// One alert for one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Index into `alerts.receivers`.
    pub receiver: usize,
    pub alert: Alert,
}

#[derive(Debug, Clone)]
struct Said {
    status: AlertStatus,
    material: String,
    at_ms: i64,
}

#[derive(Debug, Default)]
struct Flap {
    changes: VecDeque<i64>,
    holding: bool,
}

/// The alerting state machine.
pub struct AlertEngine {
    config: AlertsConfig,
    router: Router,
    repeat_ms: Vec<i64>,
    /// Firing alerts as of the last step.
    active: BTreeMap<String, Alert>,
    /// What each receiver was last told about each alert.
    said: HashMap<(usize, String), Said>,
    flaps: HashMap<String, Flap>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl AlertEngine {
    pub fn new(config: AlertsConfig) -> Self {
        let repeat_ms = config.receivers.iter().map(|r| ms(r.repeat())).collect();
        Self {
            router: Router::new(&config),
            config,
            repeat_ms,
            active: BTreeMap::new(),
            said: HashMap::new(),
            flaps: HashMap::new(),
        }
    }

    /// The alerts that should be firing for `snap`.
    pub fn desired(&self, snap: &Snapshot) -> BTreeMap<String, Alert> {
        let link = self.config.link.as_deref();
        let mut out = BTreeMap::new();
        for f in &snap.faults.open {
            let a = fault_alert(&snap.model, f, link);
            out.insert(a.key.clone(), a);
        }
        let nodes = &self.config.nodes;
        if nodes.min_state == MinState::Off && !nodes.unknown {
            return out;
        }
        let model = &snap.model;
        for ix in model.order() {
            let node = model.node(*ix);
            let watched = if nodes.ids.is_empty() {
                matches!(node.role, NodeRole::Leaf(_))
            } else {
                nodes.ids.contains(&node.id)
            };
            if !watched {
                continue;
            }
            let health = snap.node(*ix);
            let fires = match health.state {
                HealthState::Unhealthy => nodes.min_state >= MinState::Degraded,
                HealthState::Degraded => nodes.min_state == MinState::Degraded,
                HealthState::Unknown | HealthState::Unspecified => nodes.unknown,
                HealthState::Healthy => false,
            };
            if fires {
                let a = node_alert(model, *ix, health, link);
                out.insert(a.key.clone(), a);
            }
        }
        out
    }

    /// Folds in one snapshot and returns what to send.
    pub fn step(&mut self, snap: &Snapshot, now_ms: i64) -> Vec<Delivery> {
        let mut desired = self.desired(snap);
        let mut current: Vec<Alert> = Vec::new();
        for (key, alert) in &mut desired {
            match self.active.get(key) {
                None => self.changed(key, now_ms),
                // An alert keeps the labels it first fired with while it
                // lasts: they are its identity to every receiver
                // (Alertmanager takes new labels for a new alert), and a
                // fault is paged once. What it is now (its kind, how sure)
                // is in the annotations.
                Some(was) => alert.labels.clone_from(&was.labels),
            }
            current.push(alert.clone());
        }
        let gone: Vec<String> = self
            .active
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            self.changed(&key, now_ms);
            let last = &self.active[&key];
            let ended = snap
                .faults
                .resolved
                .iter()
                .find(|f| format!("fault/{}", f.id) == key)
                .and_then(|f| f.closed_at_ms)
                .unwrap_or(now_ms);
            current.push(last.resolved(ended));
        }
        self.active = desired;

        let mut out = Vec::new();
        for alert in current {
            if self.held(&alert.key, now_ms) {
                continue;
            }
            for receiver in self.router.receivers(&alert) {
                if self.due(receiver, &alert, now_ms) {
                    out.push(Delivery {
                        receiver,
                        alert: alert.clone(),
                    });
                }
            }
        }
        // Resolved alerts whose last word to every receiver was "resolved"
        // need no memory; neither do settled flap histories.
        let active = &self.active;
        self.said
            .retain(|(_, key), s| active.contains_key(key) || s.status == AlertStatus::Firing);
        let window = ms(self.config.flap.window);
        self.flaps.retain(|key, f| {
            active.contains_key(key) || f.changes.back().is_some_and(|t| now_ms - t <= window)
        });
        out
    }

    /// Records a firing/resolved change of `key`.
    fn changed(&mut self, key: &str, now_ms: i64) {
        let window = ms(self.config.flap.window);
        let max = self.config.flap.max_changes as usize;
        let flap = self.flaps.entry(key.to_string()).or_default();
        flap.changes.push_back(now_ms);
        while flap.changes.front().is_some_and(|t| now_ms - t > window) {
            flap.changes.pop_front();
        }
        if flap.changes.len() > max && !flap.holding {
            flap.holding = true;
            tracing::warn!(
                alert = key,
                changes = flap.changes.len(),
                "alert is flapping; holding its notifications until it is stable"
            );
        }
    }

    /// True while `key` flaps; it is released once stable for a window.
    fn held(&mut self, key: &str, now_ms: i64) -> bool {
        let window = ms(self.config.flap.window);
        let Some(flap) = self.flaps.get_mut(key) else {
            return false;
        };
        if flap.holding && flap.changes.back().is_some_and(|t| now_ms - t > window) {
            flap.holding = false;
            flap.changes.clear();
            tracing::info!(alert = key, "alert stable again; notifications resume");
        }
        flap.holding
    }

    /// Whether `receiver` must hear about `alert` now, and remembers it.
    fn due(&mut self, receiver: usize, alert: &Alert, now_ms: i64) -> bool {
        let material = format!("{:?}", alert.material());
        let key = (receiver, alert.key.clone());
        let send = match (self.said.get(&key), alert.status) {
            // Never heard of it: a resolve would be noise.
            (None, AlertStatus::Resolved) => false,
            (None, AlertStatus::Firing) => true,
            (Some(s), status) if s.status != status => true,
            (Some(_), AlertStatus::Resolved) => false,
            (Some(s), AlertStatus::Firing) => {
                s.material != material || now_ms - s.at_ms >= self.repeat_ms[receiver]
            }
        };
        if send {
            self.said.insert(
                key,
                Said {
                    status: alert.status,
                    material,
                    at_ms: now_ms,
                },
            );
        }
        send
    }
}
