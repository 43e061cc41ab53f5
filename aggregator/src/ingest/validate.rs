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

pub(crate) fn hello(h: &Hello) -> Result<(), Rejection> {
    check_id("hello.agent_id", &h.agent_id)?;
    if let Some(v) = &h.vantage
        && AgentRole::try_from(v.role).is_err()
    {
        return Err(malformed(format!(
            "hello.vantage.role: unknown value {}",
            v.role
        )));
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
