//! The change stream shared by gRPC `WatchChanges` and HTTP server-sent
//! events: a full snapshot first, then one message per evaluation that
//! changed something.
//!
//! Owns the per-watcher task and the slow-watcher rule: a watcher whose buffer
//! is full is dropped (its stream ends; it may reconnect for a fresh
//! snapshot) so no reader can slow evaluation or other readers.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vigil_proto::v1::WatchChangesResponse;

use super::view::WatcherView;
use vigil_health::snapshot::Snapshot;

/// Messages a watcher may have in flight before it counts as slow.
const WATCHER_BUFFER: usize = 64;

/// Starts a watcher and returns its message stream.
pub fn spawn(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    shutdown: CancellationToken,
) -> mpsc::Receiver<WatchChangesResponse> {
    let (tx, rx) = mpsc::channel(WATCHER_BUFFER);
    tokio::spawn(async move {
        let mut view = WatcherView::default();
        let first = {
            let snap = Arc::clone(&snapshots.borrow_and_update());
            view.first(&snap)
        };
        if tx.try_send(first).is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            let snap = Arc::clone(&snapshots.borrow_and_update());
            if let Some(msg) = view.next(&snap) {
                match tx.try_send(msg) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::info!(
                            generation = snap.generation,
                            "dropping a slow change watcher"
                        );
                        return;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        }
    });
    rx
}
