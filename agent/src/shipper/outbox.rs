//! The bounded buffer of batches not yet acknowledged by the aggregator.
//! Owns replay order, overflow (oldest batches dropped and counted) and
//! release on acknowledgement; it must not do I/O or build batches.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;
use vigil_proto::v1::SignalBatch;

pub struct Outbox {
    state: Mutex<State>,
    max_signals: usize,
    /// Bumped on every change, so waiters (the stream, shutdown's drain)
    /// wake without polling and never miss an update.
    version: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    batches: VecDeque<SignalBatch>,
    signals: usize,
    dropped_total: u64,
}

impl Outbox {
    pub fn new(max_signals: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            max_signals,
            version: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data
        // (every mutation is a few plain assignments), so keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Adds a batch; returns how many signals were dropped to make room.
    pub fn push(&self, batch: SignalBatch) -> u64 {
        let mut dropped = 0u64;
        {
            let mut s = self.lock();
            s.signals += batch.signals.len();
            s.batches.push_back(batch);
            while s.signals > self.max_signals {
                let Some(old) = s.batches.pop_front() else {
                    break;
                };
                s.signals -= old.signals.len();
                dropped += old.signals.len() as u64;
            }
            s.dropped_total += dropped;
        }
        self.bump();
        dropped
    }

    /// Releases every batch with a sequence at or below `sequence`; returns
    /// how many signals were released.
    pub fn release_through(&self, sequence: u64) -> u64 {
        let mut released = 0u64;
        {
            let mut s = self.lock();
            while s.batches.front().is_some_and(|b| b.sequence <= sequence) {
                if let Some(b) = s.batches.pop_front() {
                    s.signals -= b.signals.len();
                    released += b.signals.len() as u64;
                }
            }
        }
        if released > 0 {
            self.bump();
        }
        released
    }

    /// Removes one batch the aggregator refused, so it is not resent forever.
    /// Returns its signal count if it was buffered.
    pub fn reject(&self, sequence: u64) -> Option<usize> {
        let removed = {
            let mut s = self.lock();
            let pos = s.batches.iter().position(|b| b.sequence == sequence)?;
            let b = s.batches.remove(pos)?;
            s.signals -= b.signals.len();
            b.signals.len()
        };
        self.bump();
        Some(removed)
    }

    /// The first buffered batch after `cursor`, stamped with the current
    /// dropped total so the aggregator always learns the latest count.
    pub fn next_after(&self, cursor: u64) -> Option<SignalBatch> {
        let s = self.lock();
        let mut batch = s.batches.iter().find(|b| b.sequence > cursor)?.clone();
        batch.dropped_signals_total = s.dropped_total;
        Some(batch)
    }

    pub fn buffered_signals(&self) -> u64 {
        self.lock().signals as u64
    }

    pub fn buffered_batches(&self) -> usize {
        self.lock().batches.len()
    }

    pub fn dropped_total(&self) -> u64 {
        self.lock().dropped_total
    }

    pub fn is_empty(&self) -> bool {
        self.lock().batches.is_empty()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::v1::Signal;

    fn batch(sequence: u64, signals: usize) -> SignalBatch {
        SignalBatch {
            sequence,
            signals: vec![Signal::default(); signals],
            ..Default::default()
        }
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let o = Outbox::new(10);
        assert_eq!(o.push(batch(1, 4)), 0);
        assert_eq!(o.push(batch(2, 4)), 0);
        assert_eq!(o.push(batch(3, 4)), 4);
        assert_eq!(o.buffered_signals(), 8);
        assert_eq!(o.dropped_total(), 4);
        let next = o.next_after(0).unwrap();
        assert_eq!(next.sequence, 2);
        assert_eq!(next.dropped_signals_total, 4);
    }

    #[test]
    fn release_and_reject() {
        let o = Outbox::new(100);
        for s in 1..=4 {
            o.push(batch(s, 2));
        }
        assert_eq!(o.release_through(2), 4);
        assert_eq!(o.next_after(0).unwrap().sequence, 3);
        assert_eq!(o.reject(3), Some(2));
        assert_eq!(o.reject(3), None);
        assert_eq!(o.next_after(0).unwrap().sequence, 4);
        assert_eq!(o.next_after(4), None);
        assert_eq!(o.buffered_signals(), 2);
    }
}
