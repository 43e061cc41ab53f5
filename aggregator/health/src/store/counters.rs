//! Ingest counters, API requests refused, and the rate-limited log lines
//! for both.
//!
//! Owns lock-free counters updated by every stream and request and read as
//! plain values ([`IngestStats`], [`ApiDenials::counts`]). It must not
//! decide what is rejected or refused.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::clock::now_unix_ms;

/// Whether a rate-limited log line is due: at least `every_ms` since the
/// last one, and this caller won the race to write it.
fn due(last: &AtomicI64, every_ms: i64) -> bool {
    let now = now_unix_ms();
    let prev = last.load(Ordering::Relaxed);
    now - prev >= every_ms
        && last
            .compare_exchange(prev, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

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
    /// Signals faster than the agent's rate limit allows, beyond what
    /// pacing absorbs (`ingest.rate_limit.max_delay`).
    RateLimited,
    /// More distinct probes than `ingest.max_probes_per_agent`.
    TooManyProbes,
    /// More streams than `ingest.max_streams` in total.
    TooManyStreams,
    /// Ended because a newer stream of the same agent went over
    /// `ingest.max_streams_per_agent`.
    Superseded,
}

const REASONS: [RejectReason; 13] = [
    RejectReason::Malformed,
    RejectReason::UnknownProbe,
    RejectReason::TooLarge,
    RejectReason::BadTime,
    RejectReason::NotIdentified,
    RejectReason::DuplicateSequence,
    RejectReason::Unauthenticated,
    RejectReason::IdentityMismatch,
    RejectReason::Revoked,
    RejectReason::RateLimited,
    RejectReason::TooManyProbes,
    RejectReason::TooManyStreams,
    RejectReason::Superseded,
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
            RejectReason::RateLimited => "rate_limited",
            RejectReason::TooManyProbes => "too_many_probes",
            RejectReason::TooManyStreams => "too_many_streams",
            RejectReason::Superseded => "superseded",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Rejected streams, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectedCounts([u64; REASONS.len()]);

impl Default for RejectedCounts {
    fn default() -> Self {
        Self([0; REASONS.len()])
    }
}

impl RejectedCounts {
    /// Every reason's name (as `RejectReason::name`) with its count.
    pub fn by_reason(&self) -> [(&'static str, u64); REASONS.len()] {
        REASONS.map(|r| (r.name(), self.get(r)))
    }

    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0[reason.slot()]
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
    /// Batches held back to pace an agent down to its rate limit.
    pub throttled_batches: u64,
    /// Time spent holding them, in milliseconds.
    pub throttled_ms: u64,
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
    throttled_batches: AtomicU64,
    throttled_ms: AtomicU64,
    last_throttle_warn_ms: AtomicI64,
}

impl IngestCounters {
    pub fn applied(&self, signals: usize) {
        self.batches_applied.fetch_add(1, Ordering::Relaxed);
        self.signals_applied
            .fetch_add(signals as u64, Ordering::Relaxed);
    }

    /// Counts a stream as open; returns how many were open before it.
    pub fn stream_opened(&self) -> u64 {
        self.streams_open.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a batch held back by `ms` to pace `agent`, and says so at
    /// most once every ten seconds.
    pub fn throttled(&self, agent: &str, ms: u64) {
        self.throttled_batches.fetch_add(1, Ordering::Relaxed);
        self.throttled_ms.fetch_add(ms, Ordering::Relaxed);
        if due(&self.last_throttle_warn_ms, 10_000) {
            tracing::warn!(
                agent,
                held_ms = ms,
                throttled_batches_total = self.throttled_batches.load(Ordering::Relaxed),
                "an agent streams faster than ingest.rate_limit allows; its batches are paced"
            );
        }
    }

    pub fn stream_closed(&self) {
        self.streams_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a rejection and logs it, at most once per reason per second so
    /// a misbehaving fleet cannot flood the log.
    pub fn rejected(&self, reason: RejectReason, agent: &str, message: &str) {
        self.rejected[reason.slot()].fetch_add(1, Ordering::Relaxed);
        if due(&self.last_warn_ms[reason.slot()], 1000) {
            tracing::warn!(
                reason = reason.name(),
                agent,
                total = self.rejected[reason.slot()].load(Ordering::Relaxed),
                "ingest stream rejected: {message}"
            );
        }
    }

    pub fn snapshot(&self) -> IngestStats {
        let rejected =
            RejectedCounts(REASONS.map(|r| self.rejected[r.slot()].load(Ordering::Relaxed)));
        IngestStats {
            batches_applied: self.batches_applied.load(Ordering::Relaxed),
            signals_applied: self.signals_applied.load(Ordering::Relaxed),
            duplicates: rejected.get(RejectReason::DuplicateSequence),
            rejected,
            streams_open: self.streams_open.load(Ordering::Relaxed),
            throttled_batches: self.throttled_batches.load(Ordering::Relaxed),
            throttled_ms: self.throttled_ms.load(Ordering::Relaxed),
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
        if due(&self.last_warn_ms, 1000) {
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
