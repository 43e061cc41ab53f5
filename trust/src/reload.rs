//! Something built from files, rebuilt when the files change: listener
//! settings when cert-manager rotates a secret, a deny-list when it is
//! edited. Readers load the current value without a lock.
//!
//! Polls the files' contents rather than watching inotify events: a mounted
//! Kubernetes secret changes by swapping a symlink, which content polling
//! sees whatever the filesystem reports. A change that does not build (a
//! half-written file) keeps the old value and is logged once per content.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::TrustError;

/// The current value, rebuilt by [`Reloading::watch`] when its files change.
pub struct Reloading<T> {
    current: Arc<ArcSwap<T>>,
    refused: Arc<AtomicU64>,
}

impl<T> Clone for Reloading<T> {
    fn clone(&self) -> Self {
        Self {
            current: Arc::clone(&self.current),
            refused: Arc::clone(&self.refused),
        }
    }
}

fn contents(paths: &[PathBuf]) -> Vec<Option<Vec<u8>>> {
    paths.iter().map(|p| std::fs::read(p).ok()).collect()
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// A value that never changes (tests, in-memory certificates).
    pub fn fixed(value: T) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(value)),
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Builds the first value now (an error is the caller's to report),
    /// then polls `paths` every `every` until `stop`, rebuilding with
    /// `build` when any file's contents change. `what` names it in logs.
    pub fn watch<F>(
        what: &'static str,
        paths: Vec<PathBuf>,
        every: Duration,
        stop: CancellationToken,
        build: F,
    ) -> Result<Self, TrustError>
    where
        F: Fn() -> Result<T, TrustError> + Send + 'static,
    {
        let mut seen = contents(&paths);
        let this = Self::fixed(build()?);
        let current = Arc::clone(&this.current);
        let refusals = Arc::clone(&this.refused);
        tokio::spawn(async move {
            let mut refused: Option<Vec<Option<Vec<u8>>>> = None;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let now = contents(&paths);
                if now == seen || refused.as_ref() == Some(&now) {
                    continue;
                }
                match build() {
                    Ok(value) => {
                        current.store(Arc::new(value));
                        tracing::info!(what, "reloaded after its files changed");
                        seen = now;
                        refused = None;
                    }
                    Err(e) => {
                        tracing::warn!(what, error = %e, "changed files do not load; keeping the previous ones");
                        refused = Some(now);
                        refusals.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(this)
    }

    /// The value now.
    pub fn load(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// How many changes did not build and were kept out.
    pub fn refusals(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Replaces the value (a reload driven by the caller).
    pub fn store(&self, value: T) {
        self.current.store(Arc::new(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_change_that_does_not_build_keeps_the_last_good_value() {
        let dir = std::env::temp_dir().join(format!("vigil-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("value");
        std::fs::write(&file, "1").unwrap();
        let stop = CancellationToken::new();
        let read = file.clone();
        let value = Reloading::watch(
            "test value",
            vec![file.clone()],
            Duration::from_millis(20),
            stop.clone(),
            move || {
                let text = std::fs::read_to_string(&read).unwrap_or_default();
                text.trim()
                    .parse::<u32>()
                    .map_err(|e| TrustError::Credential {
                        field: "value".into(),
                        message: e.to_string(),
                    })
            },
        )
        .unwrap();
        assert_eq!(*value.load(), 1);

        std::fs::write(&file, "2").unwrap();
        until("2 loaded", || *value.load() == 2).await;
        std::fs::write(&file, "half-writ").unwrap();
        until("the bad change refused", || value.refusals() == 1).await;
        assert_eq!(*value.load(), 2, "the last good value stays");
        std::fs::write(&file, "3").unwrap();
        until("3 loaded", || *value.load() == 3).await;
        assert_eq!(value.refusals(), 1, "a refused content is tried once");
        stop.cancel();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
