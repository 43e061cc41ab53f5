//! The two threads behind every published snapshot: evaluation and
//! attribution.
//!
//! Evaluation reads the store and publishes a snapshot every interval, and
//! sooner when ingest brings news that a series turned (at most half a core
//! of early ticks); it is what makes a state change visible, so nothing else
//! may hold it up.
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
use crate::evaluate::{Evaluator, Occasion};
use crate::snapshot::Snapshot;
use crate::store::{News, SeriesReading, Store};
use vigil_model::NodeIx;

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

/// Early ticks are at least this far apart, whatever the news.
const MIN_EARLY_GAP: Duration = Duration::from_millis(10);

/// A scheduled tick looks for news after every this many leaves.
const INTERJECT_EVERY: usize = 64;

/// Waits for the next tick: the scheduled one at `next`, or an early one
/// once `news` is pending and `earliest` has passed. `None` once `stop` is
/// cancelled.
fn wait_for_tick(
    next: Instant,
    earliest: Instant,
    news: &News,
    stop: &CancellationToken,
) -> Option<Occasion> {
    loop {
        if stop.is_cancelled() {
            return None;
        }
        let now = Instant::now();
        if now >= next {
            return Some(Occasion::Scheduled);
        }
        let pending = news.is_pending();
        if pending && now >= earliest {
            return Some(Occasion::Early);
        }
        let wake = if pending { earliest.min(next) } else { next };
        // News unparks this thread; the timeout bounds how late a stop is seen.
        std::thread::park_timeout((wake - now).min(STOP_POLL));
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
pub struct Ticking {
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
pub struct TickThreads {
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl TickThreads {
    pub fn start(t: Ticking) -> std::io::Result<Self> {
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
                .spawn(move || {
                    yield_to_ingest_and_queries();
                    attribute_loop(&handoff, &board, &mut attributor, period, &stop);
                })?
        };
        let evaluation = {
            let Ticking {
                store,
                evaluator,
                period,
                window,
                snapshots,
                ..
            } = t;
            let mut evaluation = Evaluation {
                store,
                evaluator,
                window,
                snapshots,
                board,
                handoff,
                earliest: Instant::now(),
                leaves: Vec::new(),
            };
            std::thread::Builder::new()
                .name("vigil-evaluate".into())
                .spawn(move || {
                    evaluation.run(period, &stop);
                    // Wake attribution so it sees the stop at once.
                    stop.cancel();
                })?
        };
        Ok(TickThreads {
            threads: vec![evaluation, attribution],
        })
    }

    /// Waits for both threads (call after cancelling the stop token).
    pub fn join(self) -> bool {
        self.threads
            .into_iter()
            .map(std::thread::JoinHandle::join)
            .all(|r| r.is_ok())
    }
}

/// When the next early tick or interjection may run after one that ran
/// from `started` to `done`: at least as long after as it took, so they
/// never take more than half a core, however busy the news.
fn spaced(started: Instant, done: Instant) -> Instant {
    done + (done - started).max(MIN_EARLY_GAP)
}

/// The evaluation thread's state between ticks.
struct Evaluation {
    store: Arc<Store>,
    evaluator: Evaluator,
    /// How far back failure classes are read for attribution.
    window: Duration,
    snapshots: watch::Sender<Arc<Snapshot>>,
    board: Arc<ArcSwap<FaultBoard>>,
    handoff: Arc<Handoff>,
    /// No early tick or interjection before this.
    earliest: Instant,
    /// The leaves the news taken last was about.
    leaves: Vec<NodeIx>,
}

impl Evaluation {
    fn run(&mut self, period: Duration, stop: &CancellationToken) {
        let store = Arc::clone(&self.store);
        let news = store.news();
        news.listen();
        // The first tick is immediate.
        let mut next = Instant::now();
        while let Some(occasion) = wait_for_tick(next, self.earliest, news, stop) {
            // Nobody left to read snapshots (the handle and the servers were
            // dropped without a shutdown): stop too.
            if self.snapshots.is_closed() {
                return;
            }
            // Taken before reading, so news arriving during the tick calls
            // for another.
            self.leaves.clear();
            news.take(&mut self.leaves);
            let started = Instant::now();
            let span = tracing::info_span!(
                "evaluate",
                generation = tracing::field::Empty,
                early = occasion == Occasion::Early,
                leaves = tracing::field::Empty,
            );
            let _entered = span.enter();
            let snapshot = match occasion {
                Occasion::Scheduled => self.scheduled(),
                Occasion::Early => {
                    span.record("leaves", self.leaves.len());
                    self.early()
                }
            };
            if !snapshot.changes.is_empty() {
                tracing::debug!(
                    generation = snapshot.generation,
                    changes = snapshot.changes.len(),
                    "evaluated"
                );
            }
            span.record("generation", snapshot.generation);
            self.snapshots.send_replace(snapshot);
            let done = Instant::now();
            match occasion {
                // A late tick delays the next one rather than bursting.
                Occasion::Scheduled => next = (next + period).max(done),
                Occasion::Early => self.earliest = spaced(started, done),
            }
        }
    }

    /// Every leaf, read and judged; the reading goes on to attribution.
    /// News that arrives meanwhile is published in between, as often as an
    /// early tick may run, instead of waiting for the rest of the tick.
    fn scheduled(&mut self) -> Arc<Snapshot> {
        let now = now_unix_ms();
        let Evaluation {
            store,
            evaluator,
            window,
            snapshots,
            board,
            handoff,
            earliest,
            leaves,
        } = self;
        let news = store.news();
        let mut pass = evaluator.pass(now, Occasion::Scheduled);
        let mut read = 0usize;
        let series = store.read_with(now, *window, |leaf, readings, agents| {
            pass.leaf(leaf, readings, agents);
            read += 1;
            if !read.is_multiple_of(INTERJECT_EVERY)
                || !news.is_pending()
                || Instant::now() < *earliest
            {
                return;
            }
            let began = Instant::now();
            leaves.clear();
            news.take(leaves);
            let at = now_unix_ms();
            let snapshot = pass.interject(at, board.load_full(), |judge| {
                store.read_leaves(at, leaves, judge)
            });
            snapshots.send_replace(snapshot);
            *earliest = spaced(began, Instant::now());
        });
        let agents = Arc::clone(&series.agents);
        handoff.put(Job {
            now_ms: now,
            series,
        });
        pass.finish(agents, board.load_full())
    }

    /// Only the leaves the news is about; the rest of the tree is carried
    /// over as it was.
    fn early(&mut self) -> Arc<Snapshot> {
        let now = now_unix_ms();
        let mut pass = self.evaluator.pass(now, Occasion::Early);
        let agents = self
            .store
            .read_leaves(now, &self.leaves, |leaf, readings, agents| {
                pass.leaf(leaf, readings, agents);
            });
        pass.finish(agents, self.board.load_full())
    }
}

/// How much lower than the rest of the aggregator attribution runs.
const ATTRIBUTION_NICENESS: i32 = 10;

/// Lowers the calling thread's priority. Attribution is batch work whose
/// report may be a pass late; when cores are short, ingest, queries and the
/// evaluation that makes states visible go first. On Linux the niceness of
/// "this process" set from a thread is that thread's own.
fn yield_to_ingest_and_queries() {
    let current = rustix::process::getpriority_process(None).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(None, current + ATTRIBUTION_NICENESS) {
        tracing::debug!(error = %e, "attribution keeps its priority");
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

#[cfg(test)]
mod tests {
    /// The calling thread's niceness, from `/proc/thread-self/stat`.
    fn niceness() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command name, which may hold spaces: state is the
        // third field overall and niceness the nineteenth.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn attribution_lowers_its_own_thread_only() {
        let before = niceness();
        let (own, after) = std::thread::spawn(move || {
            let own = niceness();
            super::yield_to_ingest_and_queries();
            (own, niceness())
        })
        .join()
        .unwrap();
        assert_eq!(after, (own + super::ATTRIBUTION_NICENESS).min(19));
        assert_eq!(niceness(), before, "the other threads keep theirs");
    }
}
