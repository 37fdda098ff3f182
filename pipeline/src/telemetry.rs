//! Self-metrics every component reports, labelled by component id and signal.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};

use crate::component::Kind;
use crate::signal::Signal;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub component_kind: String,
    pub component_id: String,
    pub signal: String,
}

type Counters = Family<ComponentLabels, Counter<u64, AtomicU64>>;

/// The registry and the metrics registered through [`SelfMetrics::family`], by name:
/// registering a name twice would make an invalid exposition.
struct Registered {
    registry: Registry,
    shared: HashMap<&'static str, Box<dyn Any + Send + Sync>>,
}

/// Agent-wide running totals per signal, for the periodic console summary: what receivers
/// took in and refused, and what any component dropped.
#[derive(Debug, Default)]
pub struct SignalTotals {
    received: [AtomicU64; 3],
    refused: [AtomicU64; 3],
    dropped: [AtomicU64; 3],
}

/// One reading of [`SignalTotals`], indexed like [`Signal::ALL`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TotalsSnapshot {
    pub received: [u64; 3],
    pub refused: [u64; 3],
    pub dropped: [u64; 3],
}

impl SignalTotals {
    pub fn snapshot(&self) -> TotalsSnapshot {
        let read = |a: &[AtomicU64; 3]| a.each_ref().map(|v| v.load(Ordering::Relaxed));
        TotalsSnapshot {
            received: read(&self.received),
            refused: read(&self.refused),
            dropped: read(&self.dropped),
        }
    }
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// The agent's metric registry plus the six per-component families.
pub struct SelfMetrics {
    totals: Arc<SignalTotals>,
    registry: Mutex<Registered>,
    received: Counters,
    sent: Counters,
    refused: Counters,
    dropped: Counters,
    failed: Counters,
    queue_size: Family<ComponentLabels, Gauge>,
}

impl SelfMetrics {
    pub fn new() -> Arc<SelfMetrics> {
        let mut registry = Registry::with_prefix("sentinel");
        let received = Counters::default();
        let sent = Counters::default();
        let refused = Counters::default();
        let dropped = Counters::default();
        let failed = Counters::default();
        let queue_size = Family::<ComponentLabels, Gauge>::default();
        registry.register(
            "component_received_items",
            "Items (spans, data points, log records) a component took in",
            received.clone(),
        );
        registry.register(
            "component_sent_items",
            "Items a component passed on or delivered",
            sent.clone(),
        );
        registry.register(
            "component_refused_items",
            "Items a component refused with a retryable error, so the sender keeps them",
            refused.clone(),
        );
        registry.register(
            "component_dropped_items",
            "Items a component dropped on purpose or by policy; each reason is logged once",
            dropped.clone(),
        );
        registry.register(
            "component_failed_items",
            "Items a component could not process or deliver",
            failed.clone(),
        );
        registry.register(
            "component_queue_size",
            "Items waiting in the component's queue",
            queue_size.clone(),
        );
        Arc::new(SelfMetrics {
            totals: Arc::default(),
            registry: Mutex::new(Registered {
                registry,
                shared: HashMap::new(),
            }),
            received,
            sent,
            refused,
            dropped,
            failed,
            queue_size,
        })
    }

    /// The handle one component uses for one signal. Creates every series at zero so that
    /// the exposition always lists all six.
    pub fn component(&self, kind: Kind, id: &str, signal: Signal) -> ComponentMetrics {
        let labels = ComponentLabels {
            component_kind: kind.as_str().to_string(),
            component_id: id.to_string(),
            signal: signal.as_str().to_string(),
        };
        ComponentMetrics {
            id: Arc::from(id),
            signal,
            totals: self.totals.clone(),
            receiver: kind == Kind::Receiver,
            received: self.received.get_or_create(&labels).clone(),
            sent: self.sent.get_or_create(&labels).clone(),
            refused: self.refused.get_or_create(&labels).clone(),
            dropped: self.dropped.get_or_create(&labels).clone(),
            failed: self.failed.get_or_create(&labels).clone(),
            queue_size: self.queue_size.get_or_create(&labels).clone(),
            logged_reasons: Arc::default(),
        }
    }

    /// Agent-wide totals per signal (receivers' intake, everyone's drops).
    pub fn totals(&self) -> &SignalTotals {
        &self.totals
    }

    /// The metric (usually a [`Family`]) registered under `name`, registered with `make()`
    /// by the first caller; later callers, of any component, share it.
    pub fn family<F>(&self, name: &'static str, help: &str, make: impl FnOnce() -> F) -> F
    where
        F: Metric + Clone,
    {
        let mut registered = self.lock();
        if let Some(existing) = registered.shared.get(name) {
            if let Some(metric) = existing.downcast_ref::<F>() {
                return metric.clone();
            }
            // A programming error: two metric types under one name. Keep running with a
            // metric that is not exported rather than corrupt the exposition.
            debug_assert!(false, "self-metric {name} registered with two types");
            tracing::error!(
                name,
                "Self-metric registered with two types; the second is not exported."
            );
            return make();
        }
        let metric = make();
        registered.registry.register(name, help, metric.clone());
        registered.shared.insert(name, Box::new(metric.clone()));
        metric
    }

    /// Registers extra metrics directly. Prefer [`SelfMetrics::family`], which registers
    /// each name once.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.lock().registry)
    }

    /// Prometheus text exposition of everything registered.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registered = self.lock();
        prometheus_client::encoding::text::encode(&mut out, &registered.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// A panic elsewhere while the registry was locked leaves it usable (registering and
    /// encoding keep it consistent at every step), so serving metrics goes on.
    fn lock(&self) -> MutexGuard<'_, Registered> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counters of one component for one signal. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ComponentMetrics {
    id: Arc<str>,
    signal: Signal,
    totals: Arc<SignalTotals>,
    /// Receivers' intake and refusals are the agent's; other components' are internal.
    receiver: bool,
    received: Counter,
    sent: Counter,
    refused: Counter,
    dropped: Counter,
    failed: Counter,
    queue_size: Gauge,
    logged_reasons: Arc<Mutex<HashSet<&'static str>>>,
}

impl ComponentMetrics {
    pub fn received(&self, items: usize) {
        self.received.inc_by(items as u64);
        if self.receiver {
            self.totals.received[signal_index(self.signal)]
                .fetch_add(items as u64, Ordering::Relaxed);
        }
    }

    pub fn sent(&self, items: usize) {
        self.sent.inc_by(items as u64);
    }

    pub fn refused(&self, items: usize) {
        self.refused.inc_by(items as u64);
        if self.receiver {
            self.totals.refused[signal_index(self.signal)]
                .fetch_add(items as u64, Ordering::Relaxed);
        }
    }

    pub fn failed(&self, items: usize) {
        self.failed.inc_by(items as u64);
    }

    /// Counts a drop and logs its reason the first time it happens.
    pub fn dropped(&self, items: usize, reason: &'static str) {
        self.dropped.inc_by(items as u64);
        self.totals.dropped[signal_index(self.signal)].fetch_add(items as u64, Ordering::Relaxed);
        let first_time = self
            .logged_reasons
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(reason);
        if first_time {
            tracing::warn!(
                component = %self.id,
                signal = %self.signal,
                reason,
                items,
                "Dropping data; later drops for this reason are only counted."
            );
        }
    }

    pub fn set_queue_size(&self, items: usize) {
        self.queue_size.set(items as i64);
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn signal(&self) -> Signal {
        self.signal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Labelled = Family<ComponentLabels, Counter>;

    #[test]
    fn family_registers_once_per_name_and_is_shared() {
        let metrics = SelfMetrics::new();
        let first: Labelled = metrics.family("test_things", "Things", Labelled::default);
        let second: Labelled = metrics.family("test_things", "Things", || {
            panic!("a registered name is not made again")
        });
        let labels = ComponentLabels {
            component_kind: "receiver".into(),
            component_id: "a".into(),
            signal: "logs".into(),
        };
        first.get_or_create(&labels).inc();
        second.get_or_create(&labels).inc();
        let text = metrics.encode();
        assert_eq!(
            text.matches("# TYPE sentinel_test_things counter").count(),
            1
        );
        assert!(text.contains("sentinel_test_things_total{component_kind=\"receiver\",component_id=\"a\",signal=\"logs\"} 2"), "{text}");
    }

    #[test]
    fn each_registry_has_its_own_family() {
        let (a, b) = (SelfMetrics::new(), SelfMetrics::new());
        let in_a: Counter = a.family("test_count", "Count", Counter::default);
        let _in_b: Counter = b.family("test_count", "Count", Counter::default);
        in_a.inc();
        assert!(a.encode().contains("sentinel_test_count_total 1"));
        assert!(b.encode().contains("sentinel_test_count_total 0"));
    }

    #[test]
    fn a_poisoned_registry_still_registers_and_encodes() {
        let metrics = SelfMetrics::new();
        let poisoner = metrics.clone();
        let panicked = std::thread::spawn(move || {
            poisoner.with_registry(|_| panic!("a panic while the registry is locked"))
        })
        .join();
        assert!(panicked.is_err());
        assert!(metrics.registry.is_poisoned());

        let gauge: Gauge = metrics.family("test_gauge", "A gauge", Gauge::default);
        gauge.set(7);
        metrics.with_registry(|registry| {
            registry.register("test_direct", "Direct", Counter::<u64>::default())
        });
        let text = metrics.encode();
        assert!(text.contains("sentinel_test_gauge 7"), "{text}");
        assert!(text.contains("sentinel_test_direct_total 0"), "{text}");
    }

    #[test]
    fn a_poisoned_drop_log_still_counts() {
        let metrics = SelfMetrics::new();
        let component = metrics.component(Kind::Processor, "filter", Signal::Logs);
        let poisoner = component.clone();
        let _ = std::thread::spawn(move || {
            let _held = poisoner.logged_reasons.lock().unwrap();
            panic!("a panic while the drop log is locked");
        })
        .join();
        component.dropped(3, "test");
        component.dropped(2, "test");
        let counts =
            crate::testing::component_counts(&metrics, Kind::Processor, "filter", Signal::Logs);
        assert_eq!(counts.dropped, 5);
        assert!(
            component.logged_reasons.lock().is_err(),
            "still poisoned, yet usable"
        );
    }
}
