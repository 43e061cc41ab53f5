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
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::TrustError;

/// The current value, rebuilt by [`Reloading::watch`] when its files change.
pub struct Reloading<T> {
    current: Arc<ArcSwap<T>>,
}

impl<T> Clone for Reloading<T> {
    fn clone(&self) -> Self {
        Self {
            current: Arc::clone(&self.current),
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

    /// Replaces the value (a reload driven by the caller).
    pub fn store(&self, value: T) {
        self.current.store(Arc::new(value));
    }
}
