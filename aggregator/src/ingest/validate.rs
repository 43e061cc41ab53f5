//! Checks every ingest message before anything is applied.
//!
//! Owns the mapping from bad input to a [`Rejection`] (reason, gRPC code,
//! message naming the field and value). It must not mutate state: a batch is
//! validated whole, then applied whole, or not at all.

use std::collections::HashSet;
use std::sync::Arc;

use tonic::Code;
use vigil_proto::v1::{
    AgentRole, ErrorClass, Hello, Layer, Outcome, ProbeDeclaration, ProbeKind, SignalBatch,
};

use crate::config::IngestConfig;
use vigil_health::store::RejectReason;
use vigil_health::store::{ProbeInfo, Series};

/// Highest probe index accepted, so a hostile index cannot size a table.
pub(crate) const MAX_PROBE_INDEX: u32 = 65_535;
const MAX_ID_LEN: usize = 256;
/// Labels on one probe or one vantage.
pub(crate) const MAX_LABELS: usize = 32;
const MAX_LABEL_KEY_LEN: usize = 64;
const MAX_LABEL_VALUE_LEN: usize = 256;
/// A probe's target: a URL, an address, a name.
const MAX_TARGET_LEN: usize = 2048;
/// Longest signal message kept; longer ones are cut, not refused: a failure
/// must not be lost for the length of its error text.
pub(crate) const MAX_SIGNAL_MESSAGE_LEN: usize = 1024;

/// Why a message was refused, ready to become a `tonic::Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub reason: RejectReason,
    pub message: String,
}

impl Rejection {
    pub(crate) fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    pub(crate) fn code(&self) -> Code {
        match self.reason {
            RejectReason::Malformed | RejectReason::UnknownProbe | RejectReason::BadTime => {
                Code::InvalidArgument
            }
            RejectReason::TooLarge => Code::ResourceExhausted,
            RejectReason::NotIdentified => Code::FailedPrecondition,
            RejectReason::DuplicateSequence => Code::AlreadyExists,
            RejectReason::Unauthenticated => Code::Unauthenticated,
            RejectReason::IdentityMismatch | RejectReason::Revoked => Code::PermissionDenied,
            RejectReason::RateLimited
            | RejectReason::TooManyProbes
            | RejectReason::TooManyStreams
            | RejectReason::Superseded => Code::ResourceExhausted,
        }
    }
}

fn malformed(message: String) -> Rejection {
    Rejection::new(RejectReason::Malformed, message)
}

fn check_id(field: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(malformed(format!("{field} is empty")));
    }
    if value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
        return Err(malformed(format!(
            "{field} must be at most {MAX_ID_LEN} printable characters"
        )));
    }
    Ok(())
}

/// A free-text field: at most `max` bytes and no control characters.
fn check_text(field: &dyn Fn() -> String, value: &str, max: usize) -> Result<(), Rejection> {
    if value.len() > max || value.chars().any(char::is_control) {
        return Err(malformed(format!(
            "{} is {} bytes or holds control characters; at most {max} printable bytes",
            field(),
            value.len()
        )));
    }
    Ok(())
}

fn check_labels<'a>(
    field: &str,
    labels: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
) -> Result<(), Rejection> {
    if labels.len() > MAX_LABELS {
        return Err(malformed(format!(
            "{field} has {} labels, more than {MAX_LABELS}",
            labels.len()
        )));
    }
    for (k, v) in labels {
        if k.is_empty() {
            return Err(malformed(format!("{field}: a label key is empty")));
        }
        check_text(
            &|| format!("{field} key `{}`", truncated(k)),
            k,
            MAX_LABEL_KEY_LEN,
        )?;
        check_text(&|| format!("{field}.{k}"), v, MAX_LABEL_VALUE_LEN)?;
    }
    Ok(())
}

/// The first characters of `s`, for error messages about long strings.
fn truncated(s: &str) -> &str {
    cut(s, 40)
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) fn hello(h: &Hello) -> Result<(), Rejection> {
    check_id("hello.agent_id", &h.agent_id)?;
    if let Some(v) = &h.vantage {
        if AgentRole::try_from(v.role).is_err() {
            return Err(malformed(format!(
                "hello.vantage.role: unknown value {}",
                v.role
            )));
        }
        for (field, value) in [
            ("hello.vantage.network", &v.network),
            ("hello.vantage.cluster", &v.cluster),
            ("hello.vantage.zone", &v.zone),
            ("hello.vantage.region", &v.region),
        ] {
            check_text(&|| field.to_string(), value, MAX_ID_LEN)?;
        }
        check_labels("hello.vantage.labels", v.labels.iter())?;
    }
    Ok(())
}

/// Validates a declarations message and converts each probe.
pub(crate) fn declarations(
    probes: &[ProbeDeclaration],
) -> Result<Vec<(u32, ProbeInfo)>, Rejection> {
    let mut indices = HashSet::with_capacity(probes.len());
    let mut ids = HashSet::with_capacity(probes.len());
    let mut out = Vec::with_capacity(probes.len());
    for (i, p) in probes.iter().enumerate() {
        let at = |field: &str| format!("declarations.probes[{i}].{field}");
        if p.index > MAX_PROBE_INDEX {
            return Err(malformed(format!(
                "{}: {} is above the maximum {MAX_PROBE_INDEX}",
                at("index"),
                p.index
            )));
        }
        if !indices.insert(p.index) {
            return Err(malformed(format!(
                "{}: index {} is declared twice in one message",
                at("index"),
                p.index
            )));
        }
        check_id(&at("probe_id"), &p.probe_id)?;
        check_text(&|| at("target"), &p.target, MAX_TARGET_LEN)?;
        check_text(&|| at("component"), &p.component, MAX_ID_LEN)?;
        check_labels(&at("labels"), p.labels.iter())?;
        if !ids.insert(p.probe_id.as_str()) {
            return Err(malformed(format!(
                "{}: `{}` is declared twice in one message",
                at("probe_id"),
                p.probe_id
            )));
        }
        let kind = match ProbeKind::try_from(p.kind) {
            Ok(ProbeKind::Unspecified) => {
                return Err(malformed(format!("{}: unspecified", at("kind"))));
            }
            Ok(k) => k,
            Err(_) => {
                return Err(malformed(format!(
                    "{}: unknown value {}",
                    at("kind"),
                    p.kind
                )));
            }
        };
        // An undeclared layer is allowed: it only means layer selectors miss it.
        let layer = Layer::try_from(p.layer)
            .map_err(|_| malformed(format!("{}: unknown value {}", at("layer"), p.layer)))?;
        out.push((
            p.index,
            ProbeInfo {
                probe_id: p.probe_id.clone(),
                kind,
                target: p.target.clone(),
                component: p.component.clone(),
                layer,
                labels: p
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                interval_ms: p.interval_ms,
            },
        ));
    }
    Ok(out)
}

/// Validates a whole batch against the stream's declared probes and `now_ms`.
pub(crate) fn batch(
    b: &SignalBatch,
    probes: &[Option<Arc<Series>>],
    limits: &IngestConfig,
    now_ms: i64,
) -> Result<(), Rejection> {
    if b.signals.len() > limits.max_batch_signals {
        return Err(Rejection::new(
            RejectReason::TooLarge,
            format!(
                "batch {} has {} signals, more than max_batch_signals {}; send smaller batches",
                b.sequence,
                b.signals.len(),
                limits.max_batch_signals
            ),
        ));
    }
    if b.sequence == 0 {
        return Err(malformed(
            "batch.sequence is 0; sequences start at 1".to_string(),
        ));
    }
    let skew = i64::try_from(limits.max_clock_skew.as_millis()).unwrap_or(i64::MAX);
    let age = i64::try_from(limits.max_signal_age.as_millis()).unwrap_or(i64::MAX);
    // Field names are built only on failure: the success path must not
    // allocate per signal.
    let check_time = |field: &dyn Fn() -> String, t: i64| -> Result<(), Rejection> {
        if t > now_ms.saturating_add(skew) {
            return Err(Rejection::new(
                RejectReason::BadTime,
                format!(
                    "{} is {} ms ahead of the aggregator clock (max_clock_skew {} ms); check the agent's clock",
                    field(),
                    t - now_ms,
                    skew
                ),
            ));
        }
        if t < now_ms.saturating_sub(age) {
            return Err(Rejection::new(
                RejectReason::BadTime,
                format!(
                    "{} is {} ms in the past, older than max_signal_age {} ms",
                    field(),
                    now_ms.saturating_sub(t),
                    age
                ),
            ));
        }
        Ok(())
    };
    if !b.signals.is_empty() {
        check_time(
            &|| "batch.base_time_unix_ms".to_string(),
            b.base_time_unix_ms,
        )?;
    }
    for (i, s) in b.signals.iter().enumerate() {
        let declared = usize::try_from(s.probe_index)
            .ok()
            .and_then(|ix| probes.get(ix))
            .is_some_and(Option::is_some);
        if !declared {
            return Err(Rejection::new(
                RejectReason::UnknownProbe,
                format!(
                    "signals[{i}].probe_index {} was never declared on this stream",
                    s.probe_index
                ),
            ));
        }
        let outcome = match Outcome::try_from(s.outcome) {
            Ok(Outcome::Unspecified) => {
                return Err(malformed(format!("signals[{i}].outcome: unspecified")));
            }
            Ok(o) => o,
            Err(_) => {
                return Err(malformed(format!(
                    "signals[{i}].outcome: unknown value {}",
                    s.outcome
                )));
            }
        };
        let class = ErrorClass::try_from(s.error_class).map_err(|_| {
            malformed(format!(
                "signals[{i}].error_class: unknown value {}",
                s.error_class
            ))
        })?;
        if outcome == Outcome::Failure && class == ErrorClass::Unspecified {
            return Err(malformed(format!(
                "signals[{i}].error_class: unspecified on a failure; every failure must carry an error class"
            )));
        }
        check_time(
            &|| format!("signals[{i}] observation time"),
            b.base_time_unix_ms
                .saturating_add(i64::from(s.time_offset_ms)),
        )?;
    }
    Ok(())
}
