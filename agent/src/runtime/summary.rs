//! The periodic one-line console summary: what receivers took in per signal since the last
//! line (zeros included, so an idle agent still shows it is alive), refusals and drops, and
//! a host heartbeat.

use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::telemetry::TotalsSnapshot;
use sentinel_pipeline::SelfMetrics;
use tokio_util::sync::CancellationToken;

use crate::receivers::hostmetrics::{HostHeartbeat, HostVitals};

/// The first line comes this soon, so a new user sees life within seconds.
const FIRST_SUMMARY: Duration = Duration::from_secs(10);

/// Logs a summary every `interval` until `stop`; an interval of zero logs nothing.
pub async fn run(metrics: Arc<SelfMetrics>, interval: Duration, stop: CancellationToken) {
    if interval.is_zero() {
        return;
    }
    let mut heartbeat = HostHeartbeat::new();
    heartbeat.read(); // the CPU share needs a first reading to differ from
    let mut previous = metrics.totals().snapshot();
    let mut wait = interval.min(FIRST_SUMMARY);
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = metrics.totals().snapshot();
        let elapsed = since.elapsed();
        tracing::info!("{}", line(elapsed, &now, &previous, heartbeat.read()));
        previous = now;
        since = tokio::time::Instant::now();
        wait = interval;
    }
}

/// "Last 10s: received 0 spans, 12 data points, 0 log records; refused 0, dropped 0.
/// Host: CPU 3.1%, memory 41.0%, load 0.20."
fn line(
    elapsed: Duration,
    now: &TotalsSnapshot,
    before: &TotalsSnapshot,
    host: HostVitals,
) -> String {
    let delta = |a: &[u64; 3], b: &[u64; 3], i: usize| a[i].saturating_sub(b[i]);
    let sum = |a: &[u64; 3], b: &[u64; 3]| (0..3).map(|i| delta(a, b, i)).sum::<u64>();
    let percent = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}%"));
    format!(
        "Last {}s: received {} spans, {} data points, {} log records; refused {}, dropped {}. Host: CPU {}, memory {}, load {}.",
        elapsed.as_secs(),
        delta(&now.received, &before.received, 0),
        delta(&now.received, &before.received, 1),
        delta(&now.received, &before.received, 2),
        sum(&now.refused, &before.refused),
        sum(&now.dropped, &before.dropped),
        percent(host.cpu_percent),
        percent(host.memory_percent),
        host.load1.map_or("n/a".to_string(), |l| format!("{l:.2}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_what_arrived_since_the_last_one_zeros_included() {
        let before = TotalsSnapshot {
            received: [5, 0, 7],
            refused: [1, 0, 0],
            dropped: [0, 0, 2],
        };
        let now = TotalsSnapshot {
            received: [105, 0, 7],
            refused: [1, 3, 0],
            dropped: [0, 0, 4],
        };
        let host = HostVitals {
            cpu_percent: Some(3.04),
            memory_percent: None,
            load1: Some(0.2),
        };
        assert_eq!(
            line(Duration::from_secs(60), &now, &before, host),
            "Last 60s: received 100 spans, 0 data points, 0 log records; refused 3, dropped 2. Host: CPU 3.0%, memory n/a, load 0.20."
        );
    }
}
