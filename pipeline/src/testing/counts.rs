//! Reads a component's six self-metrics back from the exposition.

use crate::component::Kind;
use crate::signal::Signal;
use crate::telemetry::SelfMetrics;

/// What one component reported for one signal, read back from the Prometheus exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComponentCounts {
    pub received: u64,
    pub sent: u64,
    pub refused: u64,
    pub dropped: u64,
    pub failed: u64,
    pub queue_size: i64,
}

const SERIES: [&str; 6] = [
    "sentinel_component_received_items_total",
    "sentinel_component_sent_items_total",
    "sentinel_component_refused_items_total",
    "sentinel_component_dropped_items_total",
    "sentinel_component_failed_items_total",
    "sentinel_component_queue_size",
];

/// Reads the six self-metrics of a component from the text exposition.
///
/// Panics, naming the missing series, if the component does not report all six: this is
/// the contract every component must meet.
pub fn component_counts(
    metrics: &SelfMetrics,
    kind: Kind,
    id: &str,
    signal: Signal,
) -> ComponentCounts {
    let text = metrics.encode();
    let mut values = [None::<f64>; 6];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, rest)) = line.split_once('{') else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        if !has_label(labels, "component_kind", kind.as_str())
            || !has_label(labels, "component_id", id)
            || !has_label(labels, "signal", signal.as_str())
        {
            continue;
        }
        if let Some(index) = SERIES.iter().position(|s| *s == series) {
            values[index] = value.trim().parse().ok();
        }
    }
    let get = |index: usize| {
        values[index].unwrap_or_else(|| {
            panic!(
                "{} {id} ({signal}) does not report {}\nexposition:\n{text}",
                kind.as_str(),
                SERIES[index]
            )
        })
    };
    ComponentCounts {
        received: get(0) as u64,
        sent: get(1) as u64,
        refused: get(2) as u64,
        dropped: get(3) as u64,
        failed: get(4) as u64,
        queue_size: get(5) as i64,
    }
}

fn has_label(labels: &str, name: &str, value: &str) -> bool {
    labels.contains(&format!("{name}=\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_a_component_reported() {
        let metrics = SelfMetrics::new();
        let m = metrics.component(Kind::Exporter, "file/out", Signal::Logs);
        m.received(10);
        m.sent(7);
        m.dropped(2, "test");
        m.failed(1);
        m.set_queue_size(3);
        let counts = component_counts(&metrics, Kind::Exporter, "file/out", Signal::Logs);
        assert_eq!(
            counts,
            ComponentCounts {
                received: 10,
                sent: 7,
                refused: 0,
                dropped: 2,
                failed: 1,
                queue_size: 3
            }
        );
    }

    #[test]
    #[should_panic(expected = "does not report")]
    fn a_component_that_never_registered_fails_the_contract() {
        let metrics = SelfMetrics::new();
        let _ = metrics.component(Kind::Exporter, "file/out", Signal::Logs);
        component_counts(&metrics, Kind::Exporter, "file/other", Signal::Logs);
    }
}
