//! `retry_on_failure`: exponential backoff with equal jitter.

use std::time::Duration;

use rand::Rng;
use sentinel_pipeline::RetrySettings;

const MIN_DELAY: Duration = Duration::from_millis(1);

/// The delays between attempts at one delivery.
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    retries: u32,
}

impl Backoff {
    pub fn new(settings: &RetrySettings) -> Self {
        Backoff {
            initial: settings.initial_interval,
            max: settings.max_interval.max(settings.initial_interval),
            multiplier: if settings.multiplier.is_finite() && settings.multiplier >= 1.0 {
                settings.multiplier
            } else {
                1.0
            },
            retries: 0,
        }
    }

    /// The ceiling of the next delay: `initial × multiplier^retries`, capped at `max`.
    fn ceiling(&self) -> Duration {
        let factor = self.multiplier.powi(self.retries.min(1_000) as i32);
        let secs = self.initial.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The wait before the next attempt: half the ceiling plus a random part of the other
    /// half (equal jitter, so a crowd of agents spreads out but none retries at once),
    /// and never less than the sink's `retry_after`.
    pub fn next_delay(&mut self, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.retries = self.retries.saturating_add(1);
        let half = ceiling / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.random_range(0..=half.as_nanos() as u64))
        };
        // A zero initial_interval must not turn into a busy loop against a failing sink.
        let delay = ((ceiling - half) + jitter).max(MIN_DELAY);
        retry_after.map_or(delay, |hint| delay.max(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(initial_ms: u64, max_ms: u64, multiplier: f64) -> RetrySettings {
        RetrySettings {
            enabled: true,
            initial_interval: Duration::from_millis(initial_ms),
            max_interval: Duration::from_millis(max_ms),
            multiplier,
            max_elapsed_time: Duration::ZERO,
        }
    }

    #[test]
    fn grows_by_the_multiplier_within_equal_jitter_bounds_and_caps() {
        let mut backoff = Backoff::new(&settings(100, 1_000, 2.0));
        let mut rng = rand::rng();
        for ceiling_ms in [100u64, 200, 400, 800, 1_000, 1_000] {
            let delay = backoff.next_delay(None, &mut rng);
            let ceiling = Duration::from_millis(ceiling_ms);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut backoff = Backoff::new(&settings(10, 20, 1.5));
        let mut rng = rand::rng();
        let delay = backoff.next_delay(Some(Duration::from_secs(3)), &mut rng);
        assert_eq!(delay, Duration::from_secs(3));
        let delay = backoff.next_delay(Some(Duration::from_millis(1)), &mut rng);
        assert!(delay >= Duration::from_millis(7), "{delay:?}");
    }
}
