//! Test helpers shared by the agent's integration tests: waiting on a
//! condition with a deadline instead of sleeping for luck.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// Polls `check` until it returns `Some`, failing the test with `what` after
/// `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
