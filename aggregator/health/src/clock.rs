//! Wall-clock time in Unix milliseconds, the unit signals carry.
//!
//! Only the running servers read the clock; the evaluator takes `now` as an
//! argument so it can be driven by an explicit clock in tests.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
