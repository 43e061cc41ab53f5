//! The two threads behind every published snapshot: evaluation and
//! attribution.
//!
//! Evaluation reads the store and publishes a snapshot every interval; it is
//! what makes a state change visible, so nothing else may hold it up.
//! Attribution reasons across every (agent, probe) series and costs more, so
//! it runs beside it on the newest reading it was handed, skipping readings
//! it had no time for, and evaluation folds its latest fault board into the
//! next snapshot. Both are plain threads, not runtime tasks: a tick over a
//! large fleet takes milliseconds of CPU that must never occupy a worker
//! that ingest and queries wait for. This module owns their loops and the
//! hand-off between them; it must not judge health or faults itself.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::attribution::{Attributor, FaultBoard};
use crate::clock::now_unix_ms;
use crate::evaluate::Evaluator;
use crate::snapshot::Snapshot;
use crate::store::{SeriesReading, Store};

/// How often a sleeping thread looks at the shutdown signal, so shutdown
/// never waits a whole interval.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Sleeps until `deadline` in short steps; false when `stop` was cancelled.
fn sleep_until(deadline: Instant, stop: &CancellationToken) -> bool {
    loop {
        if stop.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(STOP_POLL));
    }
}

/// What attribution needs of one tick's reading.
struct Job {
    now_ms: i64,
    series: SeriesReading,
}

/// The newest reading handed to attribution; older ones are overwritten.
#[derive(Default)]
struct Handoff {
    slot: Mutex<Option<Job>>,
    ready: Condvar,
}

impl Handoff {
    fn put(&self, job: Job) {
        // A job attribution had no time for is freed after the lock is
        // released, so attribution never waits on that.
        let old = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(job);
        self.ready.notify_one();
        drop(old);
    }

    /// The newest reading not yet taken, or `None` once `stop` is cancelled.
    fn take(&self, stop: &CancellationToken) -> Option<Job> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if stop.is_cancelled() {
                return None;
            }
            if let Some(job) = slot.take() {
                return Some(job);
            }
            slot = self
                .ready
                .wait_timeout(slot, STOP_POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Everything the two threads need.
pub(crate) struct Ticking {
    pub store: Arc<Store>,
    pub evaluator: Evaluator,
    pub attributor: Attributor,
    pub period: Duration,
    /// How far back failure classes are read for attribution.
    pub window: Duration,
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    pub stop: CancellationToken,
}

/// The running threads; join them after cancelling the stop token.
pub(crate) struct TickThreads {
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl TickThreads {
    pub(crate) fn start(t: Ticking) -> std::io::Result<Self> {
        // Its own token, so the evaluation thread can end attribution without
        // shutting the servers down.
        let stop = t.stop.child_token();
        let handoff = Arc::new(Handoff::default());
        let board = Arc::new(ArcSwap::from(Arc::clone(&t.evaluator.latest().faults)));
        let attribution = {
            let handoff = Arc::clone(&handoff);
            let board = Arc::clone(&board);
            let stop = stop.clone();
            let mut attributor = t.attributor;
            let period = t.period;
            std::thread::Builder::new()
                .name("vigil-attribute".into())
                .spawn(move || attribute_loop(&handoff, &board, &mut attributor, period, &stop))?
        };
        let evaluation = {
            let Ticking {
                store,
                mut evaluator,
                period,
                window,
                snapshots,
                ..
            } = t;
            std::thread::Builder::new()
                .name("vigil-evaluate".into())
                .spawn(move || {
                    // The first tick is immediate.
                    let mut next = Instant::now();
                    // Nobody left to read snapshots (the handle and the
                    // servers were dropped without a shutdown): stop too.
                    while sleep_until(next, &stop) && !snapshots.is_closed() {
                        let now = now_unix_ms();
                        let span =
                            tracing::info_span!("evaluate", generation = tracing::field::Empty);
                        let _entered = span.enter();
                        let reading = store.read(now, window);
                        let faults = board.load_full();
                        let snapshot = evaluator.evaluate_with(now, &reading.leaves, faults);
                        handoff.put(Job {
                            now_ms: now,
                            series: reading.series,
                        });
                        if !snapshot.changes.is_empty() {
                            tracing::debug!(
                                generation = snapshot.generation,
                                changes = snapshot.changes.len(),
                                "evaluated"
                            );
                        }
                        span.record("generation", snapshot.generation);
                        snapshots.send_replace(snapshot);
                        // A late tick delays the next one rather than bursting.
                        next = (next + period).max(Instant::now());
                    }
                    // Wake attribution so it sees the stop at once.
                    stop.cancel();
                })?
        };
        Ok(TickThreads {
            threads: vec![evaluation, attribution],
        })
    }

    /// Waits for both threads (call after cancelling the stop token).
    pub(crate) fn join(self) -> bool {
        self.threads
            .into_iter()
            .map(std::thread::JoinHandle::join)
            .all(|r| r.is_ok())
    }
}

fn attribute_loop(
    handoff: &Handoff,
    board: &ArcSwap<FaultBoard>,
    attributor: &mut Attributor,
    period: Duration,
    stop: &CancellationToken,
) {
    while let Some(job) = handoff.take(stop) {
        let started = Instant::now();
        let faults = {
            let _span =
                tracing::info_span!("attribute", series = job.series.series.len()).entered();
            attributor.step(job.now_ms, &job.series)
        };
        for event in &faults.events {
            let f = event.fault();
            tracing::info!(
                fault = %f.id,
                event = event.name(),
                side = ?f.side(),
                suspect = %f.suspect.path(),
                confidence = f.confidence,
                "{}",
                f.summary()
            );
        }
        board.store(faults);
        // At most one pass per evaluation interval, and never more than half
        // of a core: a pass that took long is followed by as long a rest.
        let took = started.elapsed();
        if !sleep_until((started + period).max(Instant::now() + took), stop) {
            return;
        }
    }
}
