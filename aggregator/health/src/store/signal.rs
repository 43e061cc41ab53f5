//! One signal as the store keeps it for evidence: 24 bytes inline, with its
//! message and kind-specific detail boxed only when the agent sent them.
//!
//! Owns the compact encoding and nothing else; the evidence ring in
//! [`super::series`] holds these by the hundred thousand, so the common case
//! (a success without detail) must stay allocation-free.

use vigil_proto::v1::{ErrorClass, Outcome, SignalDetail};

/// What a signal said beyond its counters; absent on most successes.
#[derive(Debug, Clone, PartialEq)]
struct Note {
    message: String,
    detail: Option<SignalDetail>,
}

/// One signal kept as evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSignal {
    observed_ms: i64,
    latency_us: u32,
    outcome: u8,
    error_class: u8,
    note: Option<Box<Note>>,
}

impl StoredSignal {
    /// Builds a stored signal; an empty message and no detail cost nothing.
    pub fn new(
        outcome: Outcome,
        error_class: ErrorClass,
        latency_us: u32,
        observed_ms: i64,
        message: String,
        detail: Option<SignalDetail>,
    ) -> Self {
        let note =
            (!message.is_empty() || detail.is_some()).then(|| Box::new(Note { message, detail }));
        Self {
            observed_ms,
            latency_us,
            // Both enums are validated at the edge and fit a byte; anything
            // else falls back to the conservative reading below.
            outcome: u8::try_from(outcome as i32).unwrap_or(Outcome::Failure as u8),
            error_class: u8::try_from(error_class as i32).unwrap_or(0),
            note,
        }
    }

    pub fn outcome(&self) -> Outcome {
        Outcome::try_from(i32::from(self.outcome)).unwrap_or(Outcome::Failure)
    }

    pub fn error_class(&self) -> ErrorClass {
        ErrorClass::try_from(i32::from(self.error_class)).unwrap_or(ErrorClass::Unspecified)
    }

    pub fn is_failure(&self) -> bool {
        self.outcome() == Outcome::Failure
    }

    pub fn latency_us(&self) -> u32 {
        self.latency_us
    }

    pub fn observed_ms(&self) -> i64 {
        self.observed_ms
    }

    /// The agent's explanation; empty on plain successes.
    pub fn message(&self) -> &str {
        self.note.as_ref().map_or("", |n| n.message.as_str())
    }

    pub fn detail(&self) -> Option<&SignalDetail> {
        self.note.as_ref().and_then(|n| n.detail.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_signal_is_small_and_round_trips() {
        assert!(std::mem::size_of::<StoredSignal>() <= 24);
        let plain = StoredSignal::new(
            Outcome::Success,
            ErrorClass::Unspecified,
            7,
            1,
            String::new(),
            None,
        );
        assert!(plain.note.is_none(), "a plain success allocates nothing");
        let failed = StoredSignal::new(
            Outcome::Failure,
            ErrorClass::GrpcError,
            9,
            2,
            "boom".into(),
            None,
        );
        assert_eq!(failed.outcome(), Outcome::Failure);
        assert_eq!(failed.error_class(), ErrorClass::GrpcError);
        assert_eq!(failed.message(), "boom");
        assert_eq!((failed.latency_us(), failed.observed_ms()), (9, 2));
    }
}
