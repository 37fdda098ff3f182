//! Self-metrics every component reports, labelled by component id and signal.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::component::Kind;
use crate::signal::Signal;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub component_kind: String,
    pub component_id: String,
    pub signal: String,
}

type Counters = Family<ComponentLabels, Counter<u64, AtomicU64>>;

/// The agent's metric registry plus the six per-component families.
pub struct SelfMetrics {
    registry: Mutex<Registry>,
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
            registry: Mutex::new(registry),
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
            received: self.received.get_or_create(&labels).clone(),
            sent: self.sent.get_or_create(&labels).clone(),
            refused: self.refused.get_or_create(&labels).clone(),
            dropped: self.dropped.get_or_create(&labels).clone(),
            failed: self.failed.get_or_create(&labels).clone(),
            queue_size: self.queue_size.get_or_create(&labels).clone(),
            logged_reasons: Arc::default(),
        }
    }

    /// Registers extra metrics (process CPU/RSS, queue bytes, ...).
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut registry = self.registry.lock().expect("metrics registry poisoned");
        f(&mut registry)
    }

    /// Prometheus text exposition of everything registered.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry poisoned");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Counters of one component for one signal. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ComponentMetrics {
    id: Arc<str>,
    signal: Signal,
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
    }

    pub fn sent(&self, items: usize) {
        self.sent.inc_by(items as u64);
    }

    pub fn refused(&self, items: usize) {
        self.refused.inc_by(items as u64);
    }

    pub fn failed(&self, items: usize) {
        self.failed.inc_by(items as u64);
    }

    /// Counts a drop and logs its reason the first time it happens.
    pub fn dropped(&self, items: usize, reason: &'static str) {
        self.dropped.inc_by(items as u64);
        let first_time = self
            .logged_reasons
            .lock()
            .map(|mut seen| seen.insert(reason))
            .unwrap_or(false);
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
