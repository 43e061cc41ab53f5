//! The bodies receivers get: Alertmanager API v2 alerts, the generic JSON
//! webhook (documented in docs/observability.md) with its HMAC-SHA256
//! signature, and a Slack-compatible message.
//!
//! Owns encoding only; no I/O.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::compose::{Alert, AlertStatus};

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";

/// Version tag of the webhook schema.
pub const WEBHOOK_VERSION: &str = "vigil.alerts/v1";

/// RFC 3339 time with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// `POST /api/v2/alerts` body.
pub fn alertmanager(alerts: &[Alert]) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|a| {
                let mut v = json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at_ms),
                });
                if let Some(end) = a.ends_at_ms {
                    v["endsAt"] = json!(rfc3339(end));
                }
                if let Some(link) = &a.link {
                    v["generatorURL"] = json!(link);
                }
                v
            })
            .collect(),
    )
}

/// The generic webhook body: one group of alerts.
pub fn webhook(receiver: &str, group_key: &str, alerts: &[Alert]) -> Value {
    let status = if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
        "firing"
    } else {
        "resolved"
    };
    json!({
        "version": WEBHOOK_VERSION,
        "receiver": receiver,
        "group_key": group_key,
        "status": status,
        "alerts": alerts.iter().map(|a| json!({
            "key": a.key,
            "status": a.status.name(),
            "labels": a.labels,
            "annotations": a.annotations,
            "starts_at": rfc3339(a.starts_at_ms),
            "ends_at": a.ends_at_ms.map(rfc3339),
            "link": a.link,
        })).collect::<Vec<_>>(),
    })
}

/// `sha256=<hex>` for `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A Slack incoming-webhook message (`text` with mrkdwn).
pub fn slack(alerts: &[Alert]) -> Value {
    let mut lines = Vec::new();
    for a in alerts {
        let l = |k: &str| a.label(k).unwrap_or("-");
        let icon = match (a.status, l("severity")) {
            (AlertStatus::Resolved, _) => ":white_check_mark:",
            (_, "critical") => ":red_circle:",
            _ => ":large_yellow_circle:",
        };
        let id = a
            .label("fault_id")
            .map(|f| format!(" {f}"))
            .unwrap_or_default();
        lines.push(format!(
            "{icon} *{}* {}{id} · {} side · {} · {}",
            a.status.name().to_uppercase(),
            l("alertname"),
            l("side"),
            l("component"),
            l("severity"),
        ));
        let empty = String::new();
        let ann = |k: &str| a.annotations.get(k).unwrap_or(&empty);
        if !ann("summary").is_empty() {
            lines.push(format!("> {}", ann("summary")));
        }
        if !ann("owner").is_empty() {
            lines.push(format!("> {}", ann("owner")));
        }
        if let Some(link) = &a.link {
            lines.push(format!("<{link}|open in Vigil>"));
        }
    }
    json!({ "text": lines.join("\n") })
}

/// The group an alert belongs to: `label=value` pairs of `group_by`.
pub fn group_key(group_by: &[String], alert: &Alert) -> String {
    let pairs: BTreeMap<&str, &str> = group_by
        .iter()
        .map(|k| (k.as_str(), alert.label(k).unwrap_or("")))
        .collect();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let s = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
