//! Fairness between agents: a token bucket per agent (signals per second),
//! the streams each agent holds (a newer one ends the oldest beyond
//! `max_streams_per_agent`), and the streams open in total.
//!
//! Owns the per-agent bookkeeping those limits need, keyed by agent id so a
//! reconnect neither refills a bucket nor escapes a stream count. It must
//! not touch the store or decide what a refusal looks like on the wire; the
//! session asks and acts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

use crate::config::{IngestConfig, RateLimit};

/// What a batch of `n` signals may do now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pace {
    /// Apply it.
    Now,
    /// Apply it, then hold the stream this long before reading on.
    After(Duration),
    /// Refuse it: the agent may come back after this long.
    Refuse(Duration),
}

/// A token bucket that may go into debt by one batch: the debt is the time
/// the stream is then held, so a steady sender is paced to exactly the rate.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, n: f64, now: Instant, limit: &RateLimit) -> Pace {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.signals_per_second).min(limit.burst);
        self.at = now;
        if self.tokens >= n {
            self.tokens -= n;
            return Pace::Now;
        }
        let wait = Duration::from_secs_f64((n - self.tokens) / limit.signals_per_second);
        if wait <= limit.max_delay {
            self.tokens -= n;
            Pace::After(wait)
        } else {
            Pace::Refuse(wait)
        }
    }
}

/// One stream of an agent, as the limits know it.
struct Registered {
    id: u64,
    /// Cancelled to end that stream when a newer one supersedes it.
    end: CancellationToken,
}

/// The limits of one ingest endpoint, shared by its streams.
pub(crate) struct Limits {
    rate: RateLimit,
    max_streams: u64,
    max_streams_per_agent: usize,
    buckets: DashMap<Arc<str>, Mutex<Bucket>>,
    streams: DashMap<Arc<str>, Vec<Registered>>,
    next_stream: AtomicU64,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("rate", &self.rate)
            .field("max_streams", &self.max_streams)
            .field("max_streams_per_agent", &self.max_streams_per_agent)
            .finish_non_exhaustive()
    }
}

impl Limits {
    pub(crate) fn new(config: &IngestConfig) -> Self {
        Self {
            rate: config.rate_limit.clone(),
            max_streams: config.max_streams as u64,
            max_streams_per_agent: config.max_streams_per_agent,
            buckets: DashMap::new(),
            streams: DashMap::new(),
            next_stream: AtomicU64::new(1),
        }
    }

    /// Whether one more stream may open when `open` are open already.
    pub(crate) fn admits_stream(&self, open: u64) -> bool {
        open < self.max_streams
    }

    pub(crate) fn max_streams(&self) -> u64 {
        self.max_streams
    }

    /// Takes `signals` from `agent`'s bucket.
    pub(crate) fn take(&self, agent: &Arc<str>, signals: usize, now: Instant) -> Pace {
        let n = signals as f64;
        if let Some(bucket) = self.buckets.get(agent) {
            return lock(&bucket).take(n, now, &self.rate);
        }
        let bucket = self.buckets.entry(Arc::clone(agent)).or_insert_with(|| {
            Mutex::new(Bucket {
                tokens: self.rate.burst,
                at: now,
            })
        });
        lock(&bucket).take(n, now, &self.rate)
    }

    /// Registers a stream of `agent`; ends its oldest streams beyond
    /// `max_streams_per_agent` (returning how many). Returns the stream's
    /// id, for [`Limits::deregister`].
    pub(crate) fn register(&self, agent: &Arc<str>, end: CancellationToken) -> (u64, usize) {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let mut list = self.streams.entry(Arc::clone(agent)).or_default();
        list.push(Registered { id, end });
        let excess = list.len().saturating_sub(self.max_streams_per_agent);
        for old in list.drain(..excess) {
            old.end.cancel();
        }
        (id, excess)
    }

    /// Forgets a stream that ended.
    pub(crate) fn deregister(&self, agent: &Arc<str>, id: u64) {
        if let Some(mut list) = self.streams.get_mut(agent) {
            list.retain(|r| r.id != id);
        }
        self.streams.remove_if(agent, |_, list| list.is_empty());
    }

    pub(crate) fn rate(&self) -> &RateLimit {
        &self.rate
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: f64, burst: f64, max_delay_ms: u64) -> Limits {
        Limits::new(&IngestConfig {
            rate_limit: RateLimit {
                signals_per_second: rate,
                burst,
                max_delay: Duration::from_millis(max_delay_ms),
            },
            max_streams_per_agent: 2,
            ..IngestConfig::default()
        })
    }

    #[test]
    fn a_burst_passes_then_a_steady_sender_is_paced_to_the_rate() {
        let l = limits(100.0, 200.0, 2000);
        let a: Arc<str> = Arc::from("a");
        let t0 = Instant::now();
        assert_eq!(l.take(&a, 150, t0), Pace::Now);
        assert_eq!(l.take(&a, 50, t0), Pace::Now);
        // Empty: 100 signals cost a second of holding.
        let Pace::After(wait) = l.take(&a, 100, t0) else {
            panic!("expected pacing");
        };
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // Held that second, the next 100 cost another: exactly the rate.
        let Pace::After(wait) = l.take(&a, 100, t0 + Duration::from_secs(1)) else {
            panic!("expected pacing");
        };
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // Another agent has its own bucket.
        assert_eq!(l.take(&Arc::from("b"), 200, t0), Pace::Now);
    }

    #[test]
    fn a_batch_that_would_wait_past_max_delay_is_refused_and_costs_nothing() {
        let l = limits(100.0, 100.0, 500);
        let a: Arc<str> = Arc::from("a");
        let t0 = Instant::now();
        assert_eq!(l.take(&a, 100, t0), Pace::Now);
        let Pace::Refuse(retry) = l.take(&a, 100, t0) else {
            panic!("expected a refusal");
        };
        assert!((retry.as_secs_f64() - 1.0).abs() < 1e-6, "{retry:?}");
        // The refused batch took no tokens: after a second it passes.
        assert_eq!(l.take(&a, 100, t0 + Duration::from_secs(1)), Pace::Now);
    }

    #[test]
    fn a_newer_stream_ends_the_oldest_beyond_the_limit() {
        let l = limits(100.0, 100.0, 500);
        let a: Arc<str> = Arc::from("a");
        let tokens: Vec<CancellationToken> = (0..3).map(|_| CancellationToken::new()).collect();
        let (first, _) = l.register(&a, tokens[0].clone());
        let (_, ended) = l.register(&a, tokens[1].clone());
        assert_eq!(ended, 0);
        let (_, ended) = l.register(&a, tokens[2].clone());
        assert_eq!(ended, 1);
        assert!(tokens[0].is_cancelled(), "the oldest stream is ended");
        assert!(!tokens[1].is_cancelled() && !tokens[2].is_cancelled());
        // The ended one deregistering later changes nothing for the others.
        l.deregister(&a, first);
        let (_, ended) = l.register(&Arc::from("b"), CancellationToken::new());
        assert_eq!(ended, 0, "limits are per agent");
    }
}
