//! One (agent, probe) series: the probe's binding to leaves, its window and
//! a short evidence ring.
//!
//! Owns the per-series lock and what one signal changes. Recording a signal
//! must not allocate on the success path; nothing here knows about other
//! series, leaves' health or the wire.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard};

use vigil_proto::v1::{ErrorClass, Layer, Outcome, ProbeKind};

use super::signal::StoredSignal;
use super::window::{Window, WindowSummary};
use super::{AgentEntry, lock};
use vigil_model::NodeIx;

/// A probe as declared by an agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeInfo {
    pub probe_id: String,
    pub kind: ProbeKind,
    pub target: String,
    pub component: String,
    pub layer: Layer,
    pub labels: BTreeMap<String, String>,
    pub interval_ms: u32,
}

/// A probe and the leaves its signals feed, decided once per declaration.
/// Identical bindings (every agent of a daemonset declaring the same probe)
/// are shared.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    pub probe: ProbeInfo,
    pub leaves: Vec<NodeIx>,
}

#[derive(Debug)]
pub(super) struct SeriesData {
    pub(super) window: Window,
    pub(super) recent: EvidenceRing,
    /// Consecutive non-failures at the newest end of the stream.
    pub(super) success_streak: u32,
    /// Outcome of the newest signal, kept here so a tick need not touch the
    /// ring of a healthy series.
    pub(super) last_outcome: Outcome,
}

/// The signals of one probe from one agent.
///
/// Laid out in declaration order so the indexes a tick reads first share a
/// cache line with the lock and the start of the window it reads next.
#[derive(Debug)]
#[repr(C)]
pub struct Series {
    /// The binding's index in the store's table.
    pub(super) binding_ix: AtomicU32,
    /// The agent's index, copied here so a tick reads it from the series.
    pub(super) agent_ix: u32,
    pub(super) data: Mutex<SeriesData>,
    pub agent: Arc<AgentEntry>,
}

/// What [`Series::read`] found, computed under one short lock.
#[derive(Debug, Clone)]
pub(super) struct SeriesState {
    pub(super) window: WindowSummary,
    pub(super) dominant_error_class: ErrorClass,
    pub(super) example_failure: Option<String>,
    pub(super) last_outcome: Outcome,
    pub(super) success_streak: u32,
    /// Consecutive failures at the newest end of the window.
    pub(super) failure_streak: u32,
    /// Observation time of the newest failure in the window.
    pub(super) last_failure_ms: Option<i64>,
}

impl Series {
    pub(super) fn new(
        agent: Arc<AgentEntry>,
        binding_ix: u32,
        window: Window,
        recent_cap: u16,
    ) -> Self {
        Series {
            agent_ix: agent.ix,
            agent,
            binding_ix: AtomicU32::new(binding_ix),
            data: Mutex::new(SeriesData {
                window,
                recent: EvidenceRing::new(recent_cap),
                success_streak: 0,
                last_outcome: Outcome::Unspecified,
            }),
        }
    }

    /// Locks the series for a batch; hold it only for synchronous work.
    pub fn writer(&self) -> SeriesWriter<'_> {
        SeriesWriter {
            data: lock(&self.data),
        }
    }

    /// The window at `now_ms` plus what the evidence ring says about the
    /// failures observed since `since_ms`.
    pub(super) fn read(&self, now_ms: i64, since_ms: i64) -> SeriesState {
        let data = lock(&self.data);
        let window = data.window.summarize(now_ms);
        let last_outcome = data.last_outcome;
        // Failures in the window by class; the ring is short, so a small
        // array beats a map.
        let mut classes: [(ErrorClass, u32); 8] = [(ErrorClass::Unspecified, 0); 8];
        let mut used = 0;
        let mut example_failure = None;
        let mut last_failure_ms = None;
        let mut failure_streak = 0;
        let mut in_streak = true;
        // Without failures in the window the ring has nothing to say.
        let in_window = data
            .recent
            .newest_first()
            .take(if window.failures > 0 { usize::MAX } else { 0 })
            .filter(|s| s.observed_ms() >= since_ms);
        for s in in_window {
            if !s.is_failure() {
                in_streak = false;
                continue;
            }
            failure_streak += u32::from(in_streak);
            last_failure_ms = last_failure_ms.or(Some(s.observed_ms()));
            if example_failure.is_none() && !s.message().is_empty() {
                example_failure = Some(s.message().to_string());
            }
            let class = s.error_class();
            if let Some((_, n)) = classes[..used].iter_mut().find(|(c, _)| *c == class) {
                *n += 1;
            } else if used < classes.len() {
                classes[used] = (class, 1);
                used += 1;
            }
        }
        let success_streak = data.success_streak;
        drop(data);
        // Classes were met newest first; `max_by_key` keeps the last maximum,
        // so walk them backwards to let ties go to the newest class.
        let dominant_error_class = classes[..used]
            .iter()
            .rev()
            .max_by_key(|(_, n)| *n)
            .map_or(ErrorClass::Unspecified, |(c, _)| *c);
        SeriesState {
            window,
            dominant_error_class,
            example_failure,
            last_outcome,
            success_streak,
            failure_streak,
            last_failure_ms,
        }
    }

    /// The newest `limit` signals kept, newest first.
    pub(super) fn newest(&self, limit: usize) -> Vec<StoredSignal> {
        lock(&self.data)
            .recent
            .newest_first()
            .take(limit)
            .cloned()
            .collect()
    }
}

/// Exclusive access to one series while a batch is applied.
pub struct SeriesWriter<'a> {
    data: MutexGuard<'a, SeriesData>,
}

impl SeriesWriter<'_> {
    /// Records a signal; once the ring is full its slots are reused, so the
    /// success path does not allocate. True when the series turned: its
    /// first signal, or a failure after a non-failure, or the reverse.
    pub fn record(&mut self, signal: StoredSignal) -> bool {
        let d = &mut *self.data;
        let failed = signal.is_failure();
        let turned = d.last_outcome == Outcome::Unspecified
            || (d.last_outcome == Outcome::Failure) != failed;
        d.window
            .record(signal.observed_ms(), failed, signal.latency_us());
        d.last_outcome = signal.outcome();
        d.success_streak = if failed {
            0
        } else {
            d.success_streak.saturating_add(1)
        };
        d.recent.push(signal);
        turned
    }
}

/// The newest signals of a series, oldest overwritten first. A `Vec` that
/// grows to its capacity once and then is written in place: 24 bytes of
/// header instead of a `VecDeque`'s 32, once per (agent, probe) pair.
#[derive(Debug)]
pub(super) struct EvidenceRing {
    slots: Vec<StoredSignal>,
    /// Where the next signal goes once the ring is full.
    next: u16,
    cap: u16,
}

impl EvidenceRing {
    fn new(cap: u16) -> Self {
        EvidenceRing {
            slots: Vec::new(),
            next: 0,
            cap: cap.max(1),
        }
    }

    fn push(&mut self, signal: StoredSignal) {
        if self.slots.len() < usize::from(self.cap) {
            if self.slots.capacity() == 0 {
                self.slots.reserve_exact(usize::from(self.cap));
            }
            self.slots.push(signal);
        } else {
            self.slots[usize::from(self.next)] = signal;
            self.next = (self.next + 1) % self.cap;
        }
    }

    /// Newest first.
    pub(super) fn newest_first(&self) -> impl Iterator<Item = &StoredSignal> {
        // Full: oldest at `next`; filling: oldest at 0 and `next` is 0.
        let (older, newer) = self
            .slots
            .split_at(usize::from(self.next).min(self.slots.len()));
        older.iter().rev().chain(newer.iter().rev())
    }
}

#[cfg(test)]
mod tests {
    use vigil_proto::v1::{ErrorClass, Outcome};

    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_in_order() {
        let at = |t| {
            StoredSignal::new(
                Outcome::Success,
                ErrorClass::Unspecified,
                0,
                t,
                String::new(),
                None,
            )
        };
        let mut ring = EvidenceRing::new(3);
        let times = |r: &EvidenceRing| {
            r.newest_first()
                .map(StoredSignal::observed_ms)
                .collect::<Vec<_>>()
        };
        ring.push(at(1));
        ring.push(at(2));
        assert_eq!(times(&ring), [2, 1]);
        for t in 3..=7 {
            ring.push(at(t));
        }
        assert_eq!(times(&ring), [7, 6, 5]);
        assert_eq!(ring.slots.capacity(), 3, "allocated once, at its size");
    }
}
