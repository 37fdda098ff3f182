//! OTLP metrics into the store, named and folded by the shared `pipeline::prometheus`
//! code, so a rule sees exactly the series a Prometheus scraping our `prometheus`
//! exporter would see.

use std::time::{Duration, Instant};

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::prometheus::{Store as Folding, StoreSettings, Updated};
use sentinel_pipeline::visit;

use super::labels::{Labels, METRIC_NAME};
use super::store::SeriesStore;

/// What one `ingest_metrics` call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Samples stored.
    pub stored: usize,
    /// Samples refused (series or sample limit, out of order); also in `counters()`.
    pub refused: usize,
    /// Points Prometheus cannot express (exponential histograms), left out.
    pub unsupported: usize,
}

/// The folding state (delta sums and histograms accumulated to cumulative) kept between
/// requests.
pub(crate) struct Translation {
    folding: Folding,
}

impl std::fmt::Debug for Translation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translation")
            .field("series", &self.folding.series_count())
            .finish()
    }
}

impl Translation {
    pub(crate) fn new(settings: &StoreSettings) -> Self {
        Self {
            folding: Folding::new(settings),
        }
    }

    /// The `prometheus` exporter's default naming; folded series kept as long as the
    /// window, at most `max_series` of them.
    pub(crate) fn defaults(window: Duration, max_series: usize) -> Self {
        Self::new(&StoreSettings {
            namespace: None,
            const_labels: Default::default(),
            resource_labels: false,
            expiration: window.max(Duration::from_secs(300)),
            max_series,
        })
    }
}

impl SeriesStore {
    /// Names and labels series as the `prometheus` exporter does with `settings` (its
    /// `namespace`, `const_labels`, `resource_to_telemetry_conversion`); by default, the
    /// exporter's defaults. Resets the folding state.
    pub fn set_translation(&mut self, settings: &StoreSettings) {
        self.translation = Translation::new(settings);
    }

    /// Adds every point of `request` as Prometheus samples: sanitized names, `_total` for
    /// monotonic sums, delta sums and histograms accumulated to cumulative, histograms as
    /// `_bucket{le}`/`_sum`/`_count`, summaries as `{quantile}`/`_sum`/`_count`, `job` and
    /// `instance` from the resource. A sample's time is its point's time, or
    /// `received_ms` for points without one.
    pub fn ingest_metrics(
        &mut self,
        request: &ExportMetricsServiceRequest,
        received_ms: i64,
    ) -> IngestReport {
        let now = Instant::now();
        let mut samples: Vec<(Labels, i64, f64)> = Vec::new();
        let mut report = IngestReport::default();
        let folding = &mut self.translation.folding;
        folding.expire(now);
        for (resource, _, metric) in visit::items(request) {
            let result = folding.ingest_with(resource, metric, now, |updated| {
                expand(&updated, received_ms, &mut samples)
            });
            report.unsupported += result.unsupported;
            report.refused += result.over_limit;
            self.counters.series_limit_hits += result.over_limit as u64;
        }
        for (labels, t, v) in samples {
            match self.append(labels, t, v) {
                Ok(()) => report.stored += 1,
                Err(_) => report.refused += 1,
            }
        }
        report
    }
}

/// The Prometheus samples of one updated series.
fn expand(updated: &Updated<'_>, received_ms: i64, out: &mut Vec<(Labels, i64, f64)>) {
    let t = updated.series.timestamp_ms.unwrap_or(received_ms);
    let base = Labels::from_pairs(updated.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    updated
        .series
        .value
        .for_each_sample(updated.family, |sample| {
            let mut labels = base.clone().with(METRIC_NAME, sample.name);
            if let Some((name, value)) = sample.extra_label {
                labels = labels.with(name, value);
            }
            out.push((labels, t, sample.value));
        });
}
