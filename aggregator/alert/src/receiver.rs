//! One receiver's delivery loop: a bounded queue, grouping for
//! `group_wait`, and retries with exponential backoff.
//!
//! Owns I/O to one receiver. Each receiver has its own task and queue, so a
//! dead or slow receiver only fills its own queue (new notifications are
//! then dropped and counted); it never blocks evaluation or other receivers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::compose::Alert;
use super::config::{ReceiverConfig, ReceiverKind};
use super::payload;

/// Delivery counters of one receiver.
#[derive(Debug, Default)]
pub struct ReceiverCounters {
    pub name: String,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub queued: AtomicU64,
}

/// The sending side of a receiver's queue.
#[derive(Clone)]
pub struct ReceiverQueue {
    tx: mpsc::Sender<Alert>,
    counters: Arc<ReceiverCounters>,
}

impl ReceiverQueue {
    /// Enqueues without waiting; a full queue drops the notification.
    pub fn offer(&self, alert: Alert) {
        match self.tx.try_send(alert) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                let key = match &e {
                    mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => {
                        a.key.clone()
                    }
                };
                tracing::warn!(
                    receiver = %self.counters.name,
                    alert = %key,
                    "alert receiver queue is full; notification dropped"
                );
            }
        }
    }
}

/// Why one send attempt failed.
enum SendError {
    /// Worth retrying: connection errors, timeouts, 5xx, 429.
    Transient(String),
    /// Retrying will not help: other 4xx.
    Permanent(String),
}

struct Worker {
    config: ReceiverConfig,
    kind: ReceiverKind,
    group_by: Vec<String>,
    group_wait: Duration,
    client: reqwest::Client,
    counters: Arc<ReceiverCounters>,
    stop: CancellationToken,
}

/// Starts the delivery task of one receiver.
pub fn spawn(
    config: ReceiverConfig,
    kind: ReceiverKind,
    group_by: Vec<String>,
    group_wait: Duration,
    stop: CancellationToken,
) -> Result<
    (
        ReceiverQueue,
        Arc<ReceiverCounters>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(|e| {
            format!(
                "cannot build the HTTP client for receiver `{}`: {e}",
                config.name
            )
        })?;
    let counters = Arc::new(ReceiverCounters {
        name: config.name.clone(),
        ..Default::default()
    });
    let (tx, rx) = mpsc::channel(config.queue);
    let worker = Worker {
        config,
        kind,
        group_by,
        group_wait,
        client,
        counters: Arc::clone(&counters),
        stop,
    };
    let task = tokio::spawn(worker.run(rx));
    Ok((
        ReceiverQueue {
            tx,
            counters: Arc::clone(&counters),
        },
        counters,
        task,
    ))
}

impl Worker {
    fn took(&self, n: usize) {
        self.counters.queued.fetch_sub(n as u64, Ordering::Relaxed);
    }

    async fn run(self, mut rx: mpsc::Receiver<Alert>) {
        loop {
            let first = tokio::select! {
                () = self.stop.cancelled() => return,
                next = rx.recv() => match next { Some(a) => a, None => return },
            };
            let mut batch = vec![first];
            let until = tokio::time::Instant::now() + self.group_wait;
            loop {
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = tokio::time::sleep_until(until) => break,
                    next = rx.recv() => match next {
                        Some(a) => batch.push(a),
                        None => break,
                    },
                }
            }
            self.took(batch.len());
            // The latest word on an alert wins within one batch.
            let mut groups: BTreeMap<String, BTreeMap<String, Alert>> = BTreeMap::new();
            for alert in batch {
                let g = payload::group_key(&self.group_by, &alert);
                groups
                    .entry(g)
                    .or_default()
                    .insert(alert.key.clone(), alert);
            }
            for (group, alerts) in groups {
                let alerts: Vec<Alert> = alerts.into_values().collect();
                if !self.deliver(&group, &alerts).await {
                    return;
                }
            }
        }
    }

    /// Sends one group with retries. Returns false when stopping.
    async fn deliver(&self, group: &str, alerts: &[Alert]) -> bool {
        let n = alerts.len() as u64;
        let mut delay = self.config.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::select! {
                () = self.stop.cancelled() => return false,
                r = self.send(group, alerts) => r,
            };
            match result {
                Ok(()) => {
                    self.counters.sent.fetch_add(n, Ordering::Relaxed);
                    tracing::debug!(receiver = %self.config.name, group, alerts = n, "alerts sent");
                    return true;
                }
                Err(SendError::Permanent(e)) => {
                    self.counters.failed.fetch_add(n, Ordering::Relaxed);
                    tracing::error!(receiver = %self.config.name, group, error = %e, "alert receiver refused the notification; not retrying");
                    return true;
                }
                Err(SendError::Transient(e)) if attempt > self.config.retries => {
                    self.counters.failed.fetch_add(n, Ordering::Relaxed);
                    tracing::error!(receiver = %self.config.name, group, attempts = attempt, error = %e, "alert notification failed after retries");
                    return true;
                }
                Err(SendError::Transient(e)) => {
                    tracing::warn!(receiver = %self.config.name, group, attempt, retry_in = ?delay, error = %e, "alert notification failed; retrying");
                    tokio::select! {
                        () = self.stop.cancelled() => return false,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    async fn send(&self, group: &str, alerts: &[Alert]) -> Result<(), SendError> {
        let request = match &self.kind {
            ReceiverKind::Alertmanager { url } => self
                .client
                .post(format!("{}/api/v2/alerts", url.trim_end_matches('/')))
                .json(&payload::alertmanager(alerts)),
            ReceiverKind::Slack { url } => self.client.post(url).json(&payload::slack(alerts)),
            ReceiverKind::Webhook { url, secret } => {
                let body = payload::webhook(&self.config.name, group, alerts).to_string();
                let mut r = self
                    .client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json");
                if let Some(secret) = secret {
                    r = r.header(
                        payload::SIGNATURE_HEADER,
                        payload::signature(secret, body.as_bytes()),
                    );
                }
                r.body(body)
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let message = format!(
            "HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        );
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(SendError::Transient(message))
        } else {
            Err(SendError::Permanent(message))
        }
    }
}
