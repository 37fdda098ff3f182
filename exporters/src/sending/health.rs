//! Whether an exporter is delivering: a failing streak is logged once when it starts, then
//! once a minute with a count, and once when it ends; the admin `/readyz` lists exporters
//! in a streak as degraded, so an agent whose every export fails (a wrong password) does
//! not look healthy.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a continuing failure streak is logged again.
const REPEAT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Streak {
    since: Option<Instant>,
    failures: u64,
    unlogged: u64,
    last_logged: Option<Instant>,
    last_error: String,
}

/// One exporter's delivery health, shared by its consumers and the admin endpoint.
#[derive(Debug)]
pub struct ExportHealth {
    id: String,
    streak: Mutex<Streak>,
}

/// A degraded exporter as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    pub exporter: String,
    pub failing_for: Duration,
    pub failures: u64,
    pub last_error: String,
}

impl ExportHealth {
    pub fn new(id: &str) -> ExportHealth {
        ExportHealth {
            id: id.to_string(),
            streak: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streak> {
        self.streak.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An export attempt failed (it may be retried).
    pub fn failed(&self, error: &str) {
        let now = Instant::now();
        let mut streak = self.lock();
        streak.failures += 1;
        streak.last_error = error.to_string();
        match streak.since {
            None => {
                streak.since = Some(now);
                streak.last_logged = Some(now);
                tracing::warn!(exporter = %self.id, %error, "Export failed; retrying with backoff. Further failures are summarised once a minute.");
            }
            Some(since) if streak.last_logged.is_none_or(|t| now - t >= REPEAT_EVERY) => {
                let failures = streak.unlogged + 1;
                streak.unlogged = 0;
                streak.last_logged = Some(now);
                tracing::warn!(
                    exporter = %self.id,
                    %error,
                    failures,
                    failing_for = %humantime::format_duration(Duration::from_secs((now - since).as_secs())),
                    "Export still failing."
                );
            }
            Some(_) => streak.unlogged += 1,
        }
    }

    /// An export was delivered: ends a failing streak.
    pub fn delivered(&self) {
        let mut streak = self.lock();
        if let Some(since) = streak.since {
            tracing::info!(
                exporter = %self.id,
                failures = streak.failures,
                after = %humantime::format_duration(Duration::from_secs(since.elapsed().as_secs())),
                "Export recovered."
            );
            *streak = Streak::default();
        }
    }

    /// `Some` while the exporter is in a failing streak.
    pub fn degraded(&self) -> Option<Degraded> {
        let streak = self.lock();
        streak.since.map(|since| Degraded {
            exporter: self.id.clone(),
            failing_for: since.elapsed(),
            failures: streak.failures,
            last_error: streak.last_error.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_is_degraded_until_a_delivery() {
        let health = ExportHealth::new("postgres");
        assert_eq!(health.degraded(), None);
        health.failed("password authentication failed");
        health.failed("password authentication failed");
        let degraded = health.degraded().expect("failing");
        assert_eq!(
            (degraded.exporter.as_str(), degraded.failures),
            ("postgres", 2)
        );
        assert_eq!(degraded.last_error, "password authentication failed");
        health.delivered();
        assert_eq!(health.degraded(), None);
    }
}
