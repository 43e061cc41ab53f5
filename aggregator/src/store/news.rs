//! News for the evaluation thread: some series just *turned* (its first
//! signal, or a failure after a success, or the reverse), so a state may be
//! about to change and is worth evaluating before the next scheduled tick.
//!
//! Owns one flag and the thread to wake. Ingest raises it; raising must
//! never block ingest or make its threads contend, so it is a load of a
//! shared flag in the common case and a wake-up only when the flag goes up.
//! It must not decide when to evaluate (that is `tick`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::Thread;

#[derive(Debug, Default)]
pub struct News {
    pending: AtomicBool,
    listener: Mutex<Option<Thread>>,
}

impl News {
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

    /// Takes the news: true when some arrived since the last take.
    pub fn take(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel)
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
        let news = std::sync::Arc::new(News::default());
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
                news.take()
            })
        };
        rx.recv().unwrap();
        news.raise();
        news.raise();
        assert!(waiter.join().unwrap(), "the listener saw the news");
        assert!(!news.take(), "taken once, the news is gone");
    }
}
