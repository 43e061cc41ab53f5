//! Ingest counters, API requests refused, and the rate-limited log lines
//! for both.
//!
//! Owns lock-free counters updated by every stream and request and read as
//! plain values ([`IngestStats`], [`ApiDenials::counts`]). It must not
//! decide what is rejected or refused.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::clock::now_unix_ms;

/// Why a stream was ended by the aggregator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Structurally wrong: missing or unknown enum values, empty ids, a
    /// failure without an error class, a second Hello.
    Malformed,
    /// A signal references a probe index never declared on the stream.
    UnknownProbe,
    /// More signals than `max_batch_signals`, or a message over `max_message_bytes`.
    TooLarge,
    /// A time too far in the future or the past.
    BadTime,
    /// Declarations or a batch before Hello.
    NotIdentified,
    /// A batch sequence at or below the last one applied.
    DuplicateSequence,
    /// A TLS stream without a client certificate that grants an agent identity.
    Unauthenticated,
    /// A Hello claiming an agent id or network its certificate does not grant.
    IdentityMismatch,
    /// A certificate on the deny-list.
    Revoked,
}

const REASONS: [RejectReason; 9] = [
    RejectReason::Malformed,
    RejectReason::UnknownProbe,
    RejectReason::TooLarge,
    RejectReason::BadTime,
    RejectReason::NotIdentified,
    RejectReason::DuplicateSequence,
    RejectReason::Unauthenticated,
    RejectReason::IdentityMismatch,
    RejectReason::Revoked,
];

impl RejectReason {
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::UnknownProbe => "unknown_probe",
            RejectReason::TooLarge => "too_large",
            RejectReason::BadTime => "bad_time",
            RejectReason::NotIdentified => "not_identified",
            RejectReason::DuplicateSequence => "duplicate_sequence",
            RejectReason::Unauthenticated => "unauthenticated",
            RejectReason::IdentityMismatch => "identity_mismatch",
            RejectReason::Revoked => "revoked",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Rejected streams, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RejectedCounts {
    pub malformed: u64,
    pub unknown_probe: u64,
    pub too_large: u64,
    pub bad_time: u64,
    pub not_identified: u64,
    pub duplicate_sequence: u64,
    pub unauthenticated: u64,
    pub identity_mismatch: u64,
    pub revoked: u64,
}

impl RejectedCounts {
    /// Every reason's name (as `RejectReason::name`) with its count.
    pub fn by_reason(&self) -> [(&'static str, u64); REASONS.len()] {
        REASONS.map(|r| (r.name(), self.get(r)))
    }

    pub fn get(&self, reason: RejectReason) -> u64 {
        match reason {
            RejectReason::Malformed => self.malformed,
            RejectReason::UnknownProbe => self.unknown_probe,
            RejectReason::TooLarge => self.too_large,
            RejectReason::BadTime => self.bad_time,
            RejectReason::NotIdentified => self.not_identified,
            RejectReason::DuplicateSequence => self.duplicate_sequence,
            RejectReason::Unauthenticated => self.unauthenticated,
            RejectReason::IdentityMismatch => self.identity_mismatch,
            RejectReason::Revoked => self.revoked,
        }
    }
}

/// A point-in-time copy of the ingest counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestStats {
    pub batches_applied: u64,
    pub signals_applied: u64,
    /// Batches refused because their sequence was already applied.
    pub duplicates: u64,
    pub rejected: RejectedCounts,
    pub streams_open: u64,
}

impl IngestStats {
    /// Every rejection, whatever the reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.by_reason().iter().map(|(_, n)| n).sum()
    }
}

/// The live counters behind [`IngestStats`].
#[derive(Debug, Default)]
pub struct IngestCounters {
    batches_applied: AtomicU64,
    signals_applied: AtomicU64,
    rejected: [AtomicU64; REASONS.len()],
    last_warn_ms: [AtomicI64; REASONS.len()],
    streams_open: AtomicU64,
}

impl IngestCounters {
    pub fn applied(&self, signals: usize) {
        self.batches_applied.fetch_add(1, Ordering::Relaxed);
        self.signals_applied
            .fetch_add(signals as u64, Ordering::Relaxed);
    }

    pub fn stream_opened(&self) {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_closed(&self) {
        self.streams_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a rejection and logs it, at most once per reason per second so
    /// a misbehaving fleet cannot flood the log.
    pub fn rejected(&self, reason: RejectReason, agent: &str, message: &str) {
        self.rejected[reason.slot()].fetch_add(1, Ordering::Relaxed);
        let now = now_unix_ms();
        let last = &self.last_warn_ms[reason.slot()];
        let prev = last.load(Ordering::Relaxed);
        if now - prev >= 1000
            && last
                .compare_exchange(prev, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                reason = reason.name(),
                agent,
                total = self.rejected[reason.slot()].load(Ordering::Relaxed),
                "ingest stream rejected: {message}"
            );
        }
    }

    pub fn snapshot(&self) -> IngestStats {
        let r = |reason: RejectReason| self.rejected[reason.slot()].load(Ordering::Relaxed);
        let rejected = RejectedCounts {
            malformed: r(RejectReason::Malformed),
            unknown_probe: r(RejectReason::UnknownProbe),
            too_large: r(RejectReason::TooLarge),
            bad_time: r(RejectReason::BadTime),
            not_identified: r(RejectReason::NotIdentified),
            duplicate_sequence: r(RejectReason::DuplicateSequence),
            unauthenticated: r(RejectReason::Unauthenticated),
            identity_mismatch: r(RejectReason::IdentityMismatch),
            revoked: r(RejectReason::Revoked),
        };
        IngestStats {
            batches_applied: self.batches_applied.load(Ordering::Relaxed),
            signals_applied: self.signals_applied.load(Ordering::Relaxed),
            duplicates: rejected.duplicate_sequence,
            rejected,
            streams_open: self.streams_open.load(Ordering::Relaxed),
        }
    }
}

/// Which API a refused request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Http,
    Grpc,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Http => "http",
            Api::Grpc => "grpc",
        }
    }
}

/// Why a query or admin request was refused (as `vigil_trust::Denial`
/// names it).
pub const DENIAL_REASONS: [&str; 5] = ["missing", "malformed", "unknown", "invalid", "scope"];

/// Requests to the query and admin APIs refused for their credentials, by
/// API and reason.
#[derive(Debug, Default)]
pub struct ApiDenials {
    counts: [[AtomicU64; DENIAL_REASONS.len()]; 2],
    last_warn_ms: AtomicI64,
}

impl ApiDenials {
    /// Counts a refusal and logs it, at most once a second whatever the
    /// reason: a scanner knocking cannot flood the log.
    pub fn denied(&self, api: Api, reason: &'static str, path: &str, message: &str) {
        let slot = DENIAL_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(DENIAL_REASONS.len() - 1);
        let count = &self.counts[api as usize][slot];
        count.fetch_add(1, Ordering::Relaxed);
        let now = now_unix_ms();
        let prev = self.last_warn_ms.load(Ordering::Relaxed);
        if now - prev >= 1000
            && self
                .last_warn_ms
                .compare_exchange(prev, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                api = api.name(),
                reason,
                path,
                total = count.load(Ordering::Relaxed),
                "request refused: {message}"
            );
        }
    }

    /// `(api, reason, count)` for every pair.
    pub fn counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        [Api::Http, Api::Grpc]
            .into_iter()
            .flat_map(|api| {
                DENIAL_REASONS.iter().enumerate().map(move |(i, reason)| {
                    (
                        api.name(),
                        *reason,
                        self.counts[api as usize][i].load(Ordering::Relaxed),
                    )
                })
            })
            .collect()
    }
}
