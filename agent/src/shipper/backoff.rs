//! Reconnect delays: exponential growth from an initial delay to a cap, with
//! full jitter so a fleet of agents cut off together does not reconnect in
//! lockstep. It must not sleep itself.

use std::time::Duration;

use rand::Rng;

pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay: uniform in `0..=min(max, initial * 2^attempt)`.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        for _ in 0..50 {
            assert!(b.next_delay() <= Duration::from_millis(400));
        }
        assert!(b.attempt > 3);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
