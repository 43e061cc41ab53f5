//! News for the evaluation thread: some series just *turned* (its first
//! signal, or a failure after a success, or the reverse), so a state may be
//! about to change and is worth evaluating before the next scheduled tick.
//!
//! Owns the flags (one for the news, one per leaf it concerns) and the
//! thread to wake. Ingest raises news only when a series turns, which is
//! rare next to the signals it records; raising is a few stores and a
//! wake-up only when the news is fresh, and never blocks ingest. It must not
//! decide when to evaluate (that is `tick`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::Thread;

use vigil_model::NodeIx;

#[derive(Debug, Default)]
pub struct News {
    pending: AtomicBool,
    /// Leaves fed by a series that turned, indexed by [`NodeIx::get`].
    leaves: Box<[AtomicBool]>,
    listener: Mutex<Option<Thread>>,
}

impl News {
    /// News for a model of `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        News {
            leaves: (0..nodes).map(|_| AtomicBool::new(false)).collect(),
            ..News::default()
        }
    }

    /// A series feeding `leaves` turned; wakes the listening thread if the
    /// news is fresh.
    pub fn raise_for(&self, leaves: &[NodeIx]) {
        for leaf in leaves {
            if let Some(flag) = self.leaves.get(leaf.get()) {
                flag.store(true, Ordering::Release);
            }
        }
        self.raise();
    }

    /// Something turned; wakes the listening thread if the news is fresh.
    pub fn raise(&self) {
        // A plain load first: while the flag is already up, every ingest
        // thread reads a shared cache line instead of fighting over it.
        if self.pending.load(Ordering::Relaxed) || self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(thread) = &*self.listener.lock().unwrap_or_else(PoisonError::into_inner) {
            thread.unpark();
        }
    }

    /// Whether news arrived since it was last taken.
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes the news: true when some arrived since the last take. The
    /// leaves it concerns are appended to `leaves`.
    pub fn take(&self, leaves: &mut Vec<NodeIx>) -> bool {
        // The flag first: a leaf raised after this point raises the flag
        // again, so it is never lost between two takes.
        let fresh = self.pending.swap(false, Ordering::AcqRel);
        leaves.extend(
            self.leaves
                .iter()
                .enumerate()
                .filter(|(_, f)| f.load(Ordering::Relaxed) && f.swap(false, Ordering::AcqRel))
                .map(|(i, _)| NodeIx(i)),
        );
        fresh
    }

    /// Makes the calling thread the one [`News::raise`] unparks; it should
    /// wait with `std::thread::park_timeout`.
    pub fn listen(&self) {
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(std::thread::current());
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn raising_wakes_the_listener_once_until_taken() {
        let news = std::sync::Arc::new(News::new(4));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let news = std::sync::Arc::clone(&news);
            std::thread::spawn(move || {
                news.listen();
                tx.send(()).unwrap();
                let deadline = Instant::now() + Duration::from_secs(10);
                while !news.is_pending() && Instant::now() < deadline {
                    std::thread::park_timeout(Duration::from_secs(1));
                }
                let mut leaves = Vec::new();
                (news.take(&mut leaves), leaves)
            })
        };
        rx.recv().unwrap();
        news.raise_for(&[NodeIx(2)]);
        let (fresh, leaves) = waiter.join().unwrap();
        assert!(fresh, "the listener saw the news");
        assert_eq!(leaves, [NodeIx(2)]);
        news.raise_for(&[NodeIx(3), NodeIx(9)]);
        news.raise_for(&[NodeIx(1)]);
        let mut leaves = Vec::new();
        assert!(news.take(&mut leaves));
        assert_eq!(
            leaves,
            [NodeIx(1), NodeIx(3)],
            "leaves outside the model are ignored"
        );
        leaves.clear();
        assert!(!news.take(&mut leaves), "taken once, the news is gone");
        assert!(leaves.is_empty());
    }
}
