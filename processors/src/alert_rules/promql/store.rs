//! The bounded in-memory window the engine evaluates over: raw samples per series,
//! grouped by metric name so a named selector only looks at its own series.

use std::collections::HashMap;
use std::time::Duration;

use promql_parser::label::Matcher;

use super::ingest::Translation;
use super::labels::{Labels, METRIC_NAME};

/// Prometheus's staleness marker: a NaN with this exact bit pattern ends a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a value to `append`.
pub fn stale_marker() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True for the staleness marker (and only for it, not for other NaNs).
pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// Whether the oldest end of a range or lookback window is included: Prometheus 2.x
/// includes a sample exactly at `t - range` (and `t - lookback`), Prometheus 3.x does not.
/// It matters for samples exactly on the boundary, as `promtool test rules` input has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RangeBoundary {
    /// `[t - range, t]`, as Prometheus 2.x (and the Debian 12 `prometheus`/`promtool`).
    #[default]
    Closed,
    /// `(t - range, t]`, as Prometheus 3.x.
    LeftOpen,
}

/// Bounds of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// How far back an instant selector looks for a series' latest sample (default 5m,
    /// as Prometheus's `--query.lookback-delta`); older series are absent.
    pub lookback: Duration,
    /// Most series kept at once; samples of further new series are refused and counted.
    pub max_series: usize,
    /// Most samples kept at once over all series; further samples are refused and counted.
    pub max_samples: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            lookback: Duration::from_secs(300),
            max_series: 50_000,
            max_samples: 2_000_000,
        }
    }
}

/// Refusals so far, for the connector's self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Samples refused because they would have started a series past `max_series`.
    pub series_limit_hits: u64,
    /// Samples refused because `max_samples` samples were held.
    pub sample_limit_hits: u64,
    /// Samples refused because the series already had a later sample.
    pub out_of_order: u64,
}

/// Why `append` refused a sample (each refusal is also counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// `max_series` reached.
    #[error("series limit reached")]
    SeriesLimit,
    /// `max_samples` reached.
    #[error("sample limit reached")]
    SampleLimit,
    /// Older than the series' latest sample.
    #[error("sample older than the series' latest sample")]
    OutOfOrder,
}

/// One series' samples, oldest first: `(timestamp ms, value)`. A plain vector so a range
/// is a slice; eviction moves the few remaining samples down.
pub(crate) type Samples = Vec<(i64, f64)>;

/// The bounded window of series.
#[derive(Debug)]
pub struct SeriesStore {
    limits: StoreLimits,
    window: Duration,
    families: HashMap<String, HashMap<Labels, Samples>>,
    series: usize,
    samples: usize,
    pub(super) counters: StoreCounters,
    boundary: RangeBoundary,
    pub(super) translation: Translation,
}

impl SeriesStore {
    /// An empty store that keeps `range_needed` (the longest `Expr::range_needed` of the
    /// loaded rules) plus the lookback when `evict` is called.
    pub fn new(limits: StoreLimits, range_needed: Duration) -> Self {
        let window = range_needed + limits.lookback;
        Self {
            limits,
            window,
            translation: Translation::defaults(window, limits.max_series),
            families: HashMap::new(),
            series: 0,
            samples: 0,
            counters: StoreCounters::default(),
            boundary: RangeBoundary::default(),
        }
    }

    /// Chooses which Prometheus major version's window boundary evaluation follows.
    pub fn set_range_boundary(&mut self, boundary: RangeBoundary) {
        self.boundary = boundary;
    }

    /// The window boundary evaluation follows.
    pub fn range_boundary(&self) -> RangeBoundary {
        self.boundary
    }

    /// The limits it was made with.
    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    /// How much history `evict` keeps.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Adds one sample. Samples must come in time order per series; a sample at the
    /// latest timestamp replaces it. A staleness marker (`stale_marker()`) ends the series
    /// at that time. Refusals are counted in `counters()`.
    pub fn append(
        &mut self,
        labels: Labels,
        timestamp_ms: i64,
        value: f64,
    ) -> Result<(), AppendError> {
        let name = labels.metric_name().unwrap_or_default();
        let family = match self.families.get_mut(name) {
            Some(f) => f,
            None => self.families.entry(name.to_string()).or_default(),
        };
        if let Some(samples) = family.get_mut(&labels) {
            match samples.last_mut() {
                Some(last) if last.0 > timestamp_ms => {
                    self.counters.out_of_order += 1;
                    return Err(AppendError::OutOfOrder);
                }
                Some(last) if last.0 == timestamp_ms => {
                    last.1 = value;
                    return Ok(());
                }
                _ => {}
            }
            if self.samples >= self.limits.max_samples {
                self.counters.sample_limit_hits += 1;
                return Err(AppendError::SampleLimit);
            }
            samples.push((timestamp_ms, value));
            self.samples += 1;
            return Ok(());
        }
        if self.series >= self.limits.max_series {
            self.counters.series_limit_hits += 1;
            return Err(AppendError::SeriesLimit);
        }
        if self.samples >= self.limits.max_samples {
            self.counters.sample_limit_hits += 1;
            return Err(AppendError::SampleLimit);
        }
        family.insert(labels, vec![(timestamp_ms, value)]);
        self.series += 1;
        self.samples += 1;
        Ok(())
    }

    /// Drops samples older than `now_ms` minus the window, and series left empty.
    pub fn evict(&mut self, now_ms: i64) {
        let keep_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        self.retain_since(now_ms.saturating_sub(keep_ms));
    }

    /// Drops samples with a timestamp before `min_timestamp_ms`, and series left empty.
    pub fn retain_since(&mut self, min_timestamp_ms: i64) {
        let (mut series, mut samples) = (self.series, self.samples);
        self.families.retain(|_, family| {
            family.retain(|_, s| {
                let old = s.partition_point(|&(t, _)| t < min_timestamp_ms);
                s.drain(..old);
                samples -= old;
                if s.is_empty() {
                    series -= 1;
                }
                !s.is_empty()
            });
            !family.is_empty()
        });
        (self.series, self.samples) = (series, samples);
    }

    /// Series held now.
    pub fn series_count(&self) -> usize {
        self.series
    }

    /// Samples held now.
    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// Refusals so far.
    pub fn counters(&self) -> StoreCounters {
        self.counters
    }

    /// Bytes the store holds on the heap, counted from capacities: hash tables (slots
    /// plus one control byte each), label strings and sample buffers.
    pub fn memory_bytes(&self) -> usize {
        let slot = |k: usize, v: usize| k + v + 1;
        let mut bytes = self.families.capacity()
            * slot(
                std::mem::size_of::<String>(),
                std::mem::size_of::<HashMap<Labels, Samples>>(),
            );
        for (name, family) in &self.families {
            bytes += name.capacity();
            bytes += family.capacity()
                * slot(
                    std::mem::size_of::<Labels>(),
                    std::mem::size_of::<Samples>(),
                );
            for (labels, samples) in family {
                bytes += labels.heap_bytes() + samples.capacity() * 16;
            }
        }
        bytes
    }

    /// Every series matching the selector's name (when given) and matchers.
    pub(crate) fn select<'a, 'm>(
        &'a self,
        name: Option<&'m str>,
        matchers: &'m [Matcher],
    ) -> impl Iterator<Item = (&'a Labels, &'a Samples)> + 'm
    where
        'a: 'm,
    {
        let families: Box<dyn Iterator<Item = &HashMap<Labels, Samples>>> = match name {
            Some(n) => Box::new(self.families.get(n).into_iter()),
            None => Box::new(self.families.values()),
        };
        families.flat_map(|f| f.iter()).filter(move |(labels, _)| {
            matchers.iter().all(|m| {
                let value = if m.name == METRIC_NAME {
                    labels.metric_name()
                } else {
                    labels.get(&m.name)
                };
                m.is_match(value.unwrap_or(""))
            })
        })
    }
}
