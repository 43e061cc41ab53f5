//! The wall clock as the ingest contract spells it: signal batches carry
//! their base time in Unix milliseconds.
//!
//! Owns reading the clock for test inputs. It must not be used to measure
//! or wait (that is [`crate::wait`]).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}
