//! One retry policy for every loop that waits for something to come back:
//! the feed's HTTP retries, the shared bus's publish retries and reader
//! reconnects, and the store writer's retries. Exponential from a first
//! delay, capped; with "equal jitter" (half fixed, half random) where many
//! processes hit by one outage must not retry in lockstep.

use std::time::Duration;

/// Delays that double from `first` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub first: Duration,
    /// No delay is longer.
    pub max: Duration,
    /// Half of each delay random, so retries spread out.
    pub jitter: bool,
}

impl Backoff {
    /// Doubling from `first` up to `max`, without jitter.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            jitter: false,
        }
    }

    /// The same with equal jitter.
    pub const fn jittered(self) -> Self {
        Self {
            jitter: true,
            ..self
        }
    }

    /// The delay before retry number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        if !self.jitter {
            return exp;
        }
        let half = exp / 2;
        let jitter_ms = fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        half + Duration::from_millis(jitter_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let got: Vec<u128> = (1..=7).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn jitter_keeps_half_of_each_delay_fixed() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(8)).jittered();
        for _ in 0..200 {
            let d = b.delay(3);
            assert!(
                d >= Duration::from_millis(1000) && d <= Duration::from_millis(2000),
                "{d:?}"
            );
        }
    }
}
