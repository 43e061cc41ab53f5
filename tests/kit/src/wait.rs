//! Waiting on a condition with a deadline: [`eventually`] repeats a check
//! until it passes, or fails the test with what it waited for and the last
//! thing the check saw.
//!
//! Owns the one polling loop of every suite. It must not make a test pass
//! because time went by: it only waits between checks, and a check that never
//! passes is a failure, never a skip.

use std::time::Duration;

/// How long [`eventually`] waits between two checks that did not pass.
pub const POLL: Duration = Duration::from_millis(25);

/// What one check returns: the value once the condition holds, or what it
/// saw instead (shown if the deadline passes).
pub trait Attempt {
    /// What [`eventually`] returns once the check passes.
    type Value;
    /// `Ok` when the condition holds, otherwise what was seen.
    fn into_result(self) -> Result<Self::Value, String>;
}

/// `Err` carries what the check saw, e.g. `Err(format!("state {got:?}"))`.
/// The error is a `String` (not any `Display`) so that `?` and
/// `Err("…".into())` inside a check need no type annotation.
impl<T> Attempt for Result<T, String> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self
    }
}

/// `None` means "not yet", for checks with nothing useful to report.
impl<T> Attempt for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "the check returned None".to_string())
    }
}

/// `false` means "not yet".
impl Attempt for bool {
    type Value = ();
    fn into_result(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("the check returned false".to_string())
        }
    }
}

/// Runs `check` every [`POLL`] until it passes and returns its value; after
/// `within` the test fails with `what` and the last thing `check` saw. The
/// check runs at least once, and may keep state between runs (an `async`
/// closure can borrow mutably, e.g. to send one more batch each time).
pub async fn eventually<F, A>(what: &str, within: Duration, mut check: F) -> A::Value
where
    F: AsyncFnMut() -> A,
    A: Attempt,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match check().await.into_result() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_the_check_passes() {
        let mut runs = 0;
        let got = eventually("three runs", Duration::from_secs(5), async || {
            runs += 1;
            if runs >= 3 {
                Ok(runs)
            } else {
                Err(format!("run {runs}"))
            }
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test]
    async fn options_and_bools_are_checks_too() {
        let v = eventually("some", Duration::from_secs(1), || async { Some(7) }).await;
        assert_eq!(v, 7);
        eventually("true", Duration::from_secs(1), || async { true }).await;
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for the impossible; last seen: still 1")]
    async fn fails_with_the_description_and_the_last_thing_seen() {
        eventually("the impossible", Duration::from_millis(60), || async {
            Err::<(), _>("still 1".to_string())
        })
        .await;
    }
}
