//! OTLP metrics folded into Prometheus series: one current value per series, delta sums and
//! histograms accumulated to cumulative, expired when stale, bounded in number. The
//! `prometheus` exporter renders this store; remote write and alert rules read the series it
//! updates, so all three name and fold data the same way.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::names::{label_value, sanitize_label_name, sanitize_metric_name};
use crate::otlp::common::v1::KeyValue;
use crate::otlp::metrics::v1::metric::Data;
use crate::otlp::metrics::v1::{
    number_data_point, AggregationTemporality, Metric, NumberDataPoint,
};
use crate::otlp::resource::v1::Resource;

/// A series' labels, sorted by name, names unique.
pub type Labels = Vec<(String, String)>;

/// The Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl FamilyType {
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge => "gauge",
            FamilyType::Histogram => "histogram",
            FamilyType::Summary => "summary",
        }
    }
}

/// The current (cumulative) value of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    Number(f64),
    /// Per-bucket (not cumulative) counts, as OTLP carries them; `counts` has one more entry
    /// than `bounds` when the +Inf bucket is present.
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

/// One series: its value, when it last changed, and the source point's timestamp.
#[derive(Debug, Clone)]
pub struct Series {
    pub value: SeriesValue,
    pub updated: Instant,
    /// The OTLP point's `time_unix_nano` in milliseconds; `None` when the point had none.
    pub timestamp_ms: Option<i64>,
}

/// All series sharing one metric name.
#[derive(Debug)]
pub struct Family {
    pub kind: FamilyType,
    pub help: String,
    pub series: HashMap<Labels, Series>,
}

/// A series the last ingest created or changed.
#[derive(Debug, Clone, Copy)]
pub struct Updated<'a> {
    pub family: &'a str,
    pub kind: FamilyType,
    pub labels: &'a Labels,
    pub series: &'a Series,
}

/// What the store learned from one metric.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Points dropped because the series cap was reached.
    pub over_limit: usize,
    /// Points of kinds Prometheus cannot express (exponential histograms).
    pub unsupported: usize,
}

/// How OTLP resources and names map to series, and the store's bounds.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Prefix for every metric name (`namespace_name`).
    pub namespace: Option<String>,
    /// Labels added to every series.
    pub const_labels: BTreeMap<String, String>,
    /// Whether every resource attribute becomes a label (besides `job` and `instance`).
    pub resource_labels: bool,
    /// Series not updated for this long are removed by [`Store::expire`].
    pub expiration: Duration,
    /// The most series the store holds; points of new series past it are counted and dropped.
    pub max_series: usize,
}

pub struct Store {
    namespace: Option<String>,
    const_labels: Labels,
    resource_labels: bool,
    expiration: Duration,
    max_series: usize,
    families: BTreeMap<String, Family>,
    series_count: usize,
}

/// Where one point goes: its family, labels and timestamp.
struct Target<'a> {
    family: &'a str,
    kind: FamilyType,
    labels: Labels,
    timestamp_ms: Option<i64>,
}

impl Store {
    pub fn new(settings: &StoreSettings) -> Self {
        Store {
            namespace: settings.namespace.clone(),
            const_labels: settings
                .const_labels
                .iter()
                .map(|(k, v)| (sanitize_label_name(k), v.clone()))
                .collect(),
            resource_labels: settings.resource_labels,
            expiration: settings.expiration,
            max_series: settings.max_series,
            families: BTreeMap::new(),
            series_count: 0,
        }
    }

    /// Folds one metric of one resource into the store.
    pub fn ingest(
        &mut self,
        resource: Option<&Resource>,
        metric: &Metric,
        now: Instant,
    ) -> Ingested {
        self.ingest_with(resource, metric, now, |_| {})
    }

    /// Folds one metric into the store and shows `visit` every series it created or changed,
    /// with its new value.
    pub fn ingest_with(
        &mut self,
        resource: Option<&Resource>,
        metric: &Metric,
        now: Instant,
        mut visit: impl FnMut(Updated<'_>),
    ) -> Ingested {
        let mut result = Ingested::default();
        let base = self.base_labels(resource);
        let name = self.metric_name(&metric.name);
        let Some(data) = &metric.data else {
            return result;
        };
        let mut put = |store: &mut Store,
                       target: Target<'_>,
                       next: &dyn Fn(Option<&SeriesValue>) -> SeriesValue| {
            store.put(metric, target, now, &mut result, next, &mut visit)
        };
        match data {
            Data::Gauge(g) => {
                for p in &g.data_points {
                    let target = Target::of(
                        &name,
                        FamilyType::Gauge,
                        &base,
                        &p.attributes,
                        p.time_unix_nano,
                    );
                    put(self, target, &|_| SeriesValue::Number(number(p)));
                }
            }
            Data::Sum(s) => {
                let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                let (family, kind) = if s.is_monotonic {
                    (format!("{name}_total"), FamilyType::Counter)
                } else {
                    (name.clone(), FamilyType::Gauge)
                };
                for p in &s.data_points {
                    let target = Target::of(&family, kind, &base, &p.attributes, p.time_unix_nano);
                    put(self, target, &|old| match (delta, old) {
                        (true, Some(SeriesValue::Number(previous))) => {
                            SeriesValue::Number(previous + number(p))
                        }
                        _ => SeriesValue::Number(number(p)),
                    });
                }
            }
            Data::Histogram(h) => {
                let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &h.data_points {
                    let fresh = SeriesValue::Histogram {
                        bounds: p.explicit_bounds.clone(),
                        counts: p.bucket_counts.clone(),
                        sum: p.sum.unwrap_or(0.0),
                        count: p.count,
                    };
                    let target = Target::of(
                        &name,
                        FamilyType::Histogram,
                        &base,
                        &p.attributes,
                        p.time_unix_nano,
                    );
                    put(self, target, &|old| match (delta, old) {
                        (true, Some(previous)) => accumulate_histogram(previous, &fresh),
                        _ => fresh.clone(),
                    });
                }
            }
            Data::Summary(s) => {
                for p in &s.data_points {
                    let value = SeriesValue::Summary {
                        quantiles: p
                            .quantile_values
                            .iter()
                            .map(|q| (q.quantile, q.value))
                            .collect(),
                        sum: p.sum,
                        count: p.count,
                    };
                    let target = Target::of(
                        &name,
                        FamilyType::Summary,
                        &base,
                        &p.attributes,
                        p.time_unix_nano,
                    );
                    put(self, target, &|_| value.clone());
                }
            }
            Data::ExponentialHistogram(h) => result.unsupported += h.data_points.len(),
        }
        result
    }

    fn put(
        &mut self,
        metric: &Metric,
        target: Target<'_>,
        now: Instant,
        result: &mut Ingested,
        next: &dyn Fn(Option<&SeriesValue>) -> SeriesValue,
        visit: &mut dyn FnMut(Updated<'_>),
    ) {
        let at_limit = self.series_count >= self.max_series;
        let family = self
            .families
            .entry(target.family.to_string())
            .or_insert_with(|| Family {
                kind: target.kind,
                help: metric.description.clone(),
                series: HashMap::new(),
            });
        if family.kind != target.kind {
            // The same name with another type: the newest definition wins.
            self.series_count -= family.series.len();
            family.series.clear();
            family.kind = target.kind;
        }
        let labels = target.labels;
        if let Some(series) = family.series.get_mut(&labels) {
            series.value = next(Some(&series.value));
            series.updated = now;
            series.timestamp_ms = target.timestamp_ms;
        } else if at_limit {
            result.over_limit += 1;
            return;
        } else {
            let series = Series {
                value: next(None),
                updated: now,
                timestamp_ms: target.timestamp_ms,
            };
            family.series.insert(labels.clone(), series);
            self.series_count += 1;
        }
        if let Some(series) = family.series.get(&labels) {
            visit(Updated {
                family: target.family,
                kind: target.kind,
                labels: &labels,
                series,
            });
        }
    }

    /// Removes series not updated within the expiration.
    pub fn expire(&mut self, now: Instant) {
        let expiration = self.expiration;
        let mut removed = 0;
        for family in self.families.values_mut() {
            let before = family.series.len();
            family
                .series
                .retain(|_, s| now.duration_since(s.updated) < expiration);
            removed += before - family.series.len();
        }
        self.families.retain(|_, f| !f.series.is_empty());
        self.series_count -= removed;
    }

    /// Every family by name, in name order.
    pub fn families(&self) -> impl Iterator<Item = (&str, &Family)> {
        self.families
            .iter()
            .map(|(name, family)| (name.as_str(), family))
    }

    /// How many series the store holds.
    pub fn series_count(&self) -> usize {
        self.series_count
    }

    fn metric_name(&self, name: &str) -> String {
        let base = sanitize_metric_name(name);
        match &self.namespace {
            Some(ns) if !ns.is_empty() => format!("{}_{base}", sanitize_metric_name(ns)),
            _ => base,
        }
    }

    /// `job` and `instance` from the resource (OTel → Prometheus compatibility), plus
    /// resource attributes when enabled, plus const labels.
    fn base_labels(&self, resource: Option<&Resource>) -> Labels {
        let attrs: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let get = |key: &str| attrs.iter().find(|kv| kv.key == key).map(label_value);
        let mut out = self.const_labels.clone();
        if let Some(service) = get("service.name") {
            let job = match get("service.namespace") {
                Some(ns) => format!("{ns}/{service}"),
                None => service,
            };
            out.push(("job".into(), job));
        }
        if let Some(instance) = get("service.instance.id") {
            out.push(("instance".into(), instance));
        }
        if self.resource_labels {
            out.extend(
                attrs
                    .iter()
                    .map(|kv| (sanitize_label_name(&kv.key), label_value(kv))),
            );
        }
        out
    }
}

impl<'a> Target<'a> {
    fn of(
        family: &'a str,
        kind: FamilyType,
        base: &Labels,
        attributes: &[KeyValue],
        time_unix_nano: u64,
    ) -> Self {
        Target {
            family,
            kind,
            labels: labels(base, attributes),
            timestamp_ms: (time_unix_nano > 0).then_some((time_unix_nano / 1_000_000) as i64),
        }
    }
}

/// Adds a delta histogram point to the running one; a change of bucket layout restarts it.
fn accumulate_histogram(previous: &SeriesValue, delta: &SeriesValue) -> SeriesValue {
    match (previous, delta) {
        (
            SeriesValue::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            SeriesValue::Histogram {
                bounds: new_bounds,
                counts: new_counts,
                sum: new_sum,
                count: new_count,
            },
        ) if bounds == new_bounds && counts.len() == new_counts.len() => SeriesValue::Histogram {
            bounds: bounds.clone(),
            counts: counts.iter().zip(new_counts).map(|(a, b)| a + b).collect(),
            sum: sum + new_sum,
            count: count + new_count,
        },
        _ => delta.clone(),
    }
}

fn labels(base: &Labels, attributes: &[KeyValue]) -> Labels {
    let mut out = base.clone();
    out.extend(
        attributes
            .iter()
            .map(|kv| (sanitize_label_name(&kv.key), label_value(kv))),
    );
    // Stable sort keeps the first of equal names: constant and resource labels win over
    // point attributes.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}
