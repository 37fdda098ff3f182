//! Self-metrics of a sending queue: the six component series per signal, plus the queue's
//! own series labelled by `component_id`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use sentinel_pipeline::{ComponentMetrics, Kind, SelfMetrics, Signal};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    component_id: String,
}

type FsyncHistograms = Family<QueueLabels, Histogram, fn() -> Histogram>;

fn fsync_histogram() -> Histogram {
    // 50µs .. ~1.6s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The queue families, registered once per `SelfMetrics` (a registry rejects nothing, but
/// two families of one name would make the exposition invalid).
#[derive(Clone)]
struct QueueFamilies {
    bytes: Family<QueueLabels, Gauge>,
    oldest_age: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    retries: Family<QueueLabels, Counter>,
    dead_lettered: Family<QueueLabels, Counter>,
    dead_letters_dropped: Family<QueueLabels, Counter>,
    corrupt: Family<QueueLabels, Counter>,
    fsync: FsyncHistograms,
}

fn families(metrics: &Arc<SelfMetrics>) -> QueueFamilies {
    QueueFamilies {
        bytes: metrics.family(
            "queue_bytes",
            "Bytes held by an exporter's sending queue (encoded size in memory, file size on disk)",
            Family::default,
        ),
        oldest_age: metrics.family(
            "queue_oldest_record_age_seconds",
            "Age of the oldest record in an exporter's sending queue that is not delivered yet",
            Family::default,
        ),
        retries: metrics.family(
            "queue_retries",
            "Export attempts the sending queue repeated after a retryable failure",
            Family::default,
        ),
        dead_lettered: metrics.family(
            "queue_dead_lettered",
            "Items written to the dead-letter file after a permanent failure or exhausted retries",
            Family::default,
        ),
        dead_letters_dropped: metrics.family(
            "queue_dead_letters_dropped",
            "Requests removed from (or never written to) the dead-letter files because of their size cap (sending_queue.dead_letter)",
            Family::default,
        ),
        corrupt: metrics.family(
            "queue_corrupt_records",
            "Damaged or torn disk-queue records skipped when reading segment files",
            Family::default,
        ),
        fsync: metrics.family(
            "queue_fsync_duration_seconds",
            "Time the disk queue spent in fsync",
            || FsyncHistograms::new_with_constructor(fsync_histogram),
        ),
    }
}

/// The dead-letter drop counter of exporter `id`, for dead-letter files written outside
/// the sending queue (the kafka exporter's per-record ones).
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub(crate) fn dead_letters_dropped(registry: &Arc<SelfMetrics>, id: &str) -> Counter {
    families(registry)
        .dead_letters_dropped
        .get_or_create(&QueueLabels {
            component_id: id.to_string(),
        })
        .clone()
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// Everything one sending queue reports.
pub(crate) struct QueueMetrics {
    id: String,
    registry: Arc<SelfMetrics>,
    by_signal: [OnceLock<ComponentMetrics>; 3],
    /// Records accepted and not settled yet, per signal.
    waiting: [AtomicI64; 3],
    /// Items (spans, points, log records) of those records, per signal: what
    /// `component_queue_size` reports, like every other component's queue size.
    waiting_items: [AtomicI64; 3],
    pub bytes: Gauge,
    pub oldest_age: Gauge<f64, AtomicU64>,
    pub retries: Counter,
    pub dead_lettered: Counter,
    pub dead_letters_dropped: Counter,
    pub corrupt: Counter,
    pub fsync: Histogram,
}

impl QueueMetrics {
    /// Registers the series of the listed signals at zero; other signals appear when used.
    pub fn new(id: &str, registry: Arc<SelfMetrics>, signals: &[Signal]) -> Arc<QueueMetrics> {
        let families = families(&registry);
        let labels = QueueLabels {
            component_id: id.to_string(),
        };
        let metrics = QueueMetrics {
            id: id.to_string(),
            by_signal: Default::default(),
            waiting: Default::default(),
            waiting_items: Default::default(),
            bytes: families.bytes.get_or_create(&labels).clone(),
            oldest_age: families.oldest_age.get_or_create(&labels).clone(),
            retries: families.retries.get_or_create(&labels).clone(),
            dead_lettered: families.dead_lettered.get_or_create(&labels).clone(),
            dead_letters_dropped: families.dead_letters_dropped.get_or_create(&labels).clone(),
            corrupt: families.corrupt.get_or_create(&labels).clone(),
            fsync: families.fsync.get_or_create(&labels).clone(),
            registry,
        };
        for &signal in signals {
            metrics.signal(signal);
        }
        Arc::new(metrics)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn signal(&self, signal: Signal) -> &ComponentMetrics {
        self.by_signal[signal_index(signal)]
            .get_or_init(|| self.registry.component(Kind::Exporter, &self.id, signal))
    }

    /// A record entered the queue (counted as received).
    pub fn accepted(&self, signal: Signal, items: usize) {
        self.signal(signal).received(items);
        self.add_waiting(signal, 1, items as i64);
    }

    /// A record found on disk at start-up: waiting again, received in an earlier run.
    pub fn replayed(&self, signal: Signal, items: usize) {
        self.add_waiting(signal, 1, items as i64);
    }

    /// A record of `items` items left the queue for good (delivered, dead-lettered or
    /// dropped).
    pub fn settled(&self, signal: Signal, items: usize) {
        self.add_waiting(signal, -1, -(items as i64));
    }

    fn add_waiting(&self, signal: Signal, records: i64, items: i64) {
        let index = signal_index(signal);
        self.waiting[index].fetch_add(records, Ordering::Relaxed);
        let now = self.waiting_items[index].fetch_add(items, Ordering::Relaxed) + items;
        self.signal(signal).set_queue_size(now.max(0) as usize);
    }

    pub fn waiting_records(&self) -> i64 {
        self.waiting.iter().map(|w| w.load(Ordering::Relaxed)).sum()
    }

    pub fn waiting_items(&self) -> i64 {
        self.waiting_items
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .sum()
    }

    pub fn observe_fsync(&self, took: Duration) {
        self.fsync.observe(took.as_secs_f64());
    }

    /// Sets the oldest-record age from an append time in ms since the epoch.
    pub fn set_oldest(&self, appended_ms: Option<u64>) {
        let age = appended_ms.map_or(0.0, |ms| {
            let now = now_ms();
            now.saturating_sub(ms) as f64 / 1000.0
        });
        self.oldest_age.set(age);
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
