//! OTLP metrics → Remote-Write time series, through the shared [`Store`] that also backs the
//! `prometheus` exporter: the same names, labels and delta → cumulative accumulation. Every
//! series a request updates is written with its new value at the point's timestamp; each
//! resource adds a `target_info` series; exemplars go on the series (or histogram bucket)
//! they belong to.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::otlp::metrics::v1::{
    exemplar, metric::Data, Exemplar as OtlpExemplar, Metric,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::prometheus::{
    label_value, sanitize_label_name, sanitize_metric_name, suffixed_name, FamilyType, Store,
    StoreSettings, Updated,
};

use super::prompb::{self, Exemplar, Label, MetricMetadata, Sample, TimeSeries};

/// What one request turned into.
#[derive(Debug, Default, Clone)]
pub struct Converted {
    pub series: Vec<TimeSeries>,
    pub metadata: Vec<MetricMetadata>,
    /// Points dropped: over the series limit, or of a kind Remote-Write 1.0 cannot carry
    /// (exponential histograms).
    pub over_limit: usize,
    pub unsupported: usize,
}

pub struct Converter {
    store: Store,
    suffixes: bool,
    target_info: bool,
    namespace: Option<String>,
    external: Vec<(String, String)>,
}

/// The labels that identify a resource's job and instance; they are not repeated in
/// `target_info` as attributes.
const IDENTIFYING: [&str; 3] = ["service.name", "service.namespace", "service.instance.id"];

impl Converter {
    pub fn new(
        settings: &StoreSettings,
        suffixes: bool,
        target_info: bool,
        external: &BTreeMap<String, String>,
    ) -> Converter {
        Converter {
            store: Store::new(settings),
            suffixes,
            target_info,
            namespace: settings.namespace.clone(),
            external: external
                .iter()
                .map(|(k, v)| (sanitize_label_name(k), v.clone()))
                .collect(),
        }
    }

    /// Folds `request` into the running series and returns the samples to write. `now_ms`
    /// stamps points that carry no time.
    pub fn convert(&mut self, mut request: ExportMetricsServiceRequest, now_ms: i64) -> Converted {
        let now = Instant::now();
        self.store.expire(now);
        let mut out = Converted::default();
        let mut described = HashSet::new();
        for group in &mut request.resource_metrics {
            let resource = group.resource.as_ref();
            let mut latest_ms = None;
            for scope in &mut group.scope_metrics {
                for metric in &mut scope.metrics {
                    if self.suffixes {
                        metric.name = suffixed_name(metric);
                    }
                    self.ingest(
                        resource,
                        metric,
                        now,
                        now_ms,
                        &mut out,
                        &mut described,
                        &mut latest_ms,
                    );
                }
            }
            if self.target_info {
                if let Some(series) = self.target_info_series(resource, latest_ms.unwrap_or(now_ms))
                {
                    out.series.push(series);
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn ingest(
        &mut self,
        resource: Option<&Resource>,
        metric: &Metric,
        now: Instant,
        now_ms: i64,
        out: &mut Converted,
        described: &mut HashSet<String>,
        latest_ms: &mut Option<i64>,
    ) {
        let mut emit = |updated: Updated<'_>, exemplars: &[OtlpExemplar]| {
            if described.insert(updated.family.to_string()) {
                out.metadata.push(metadata(updated, metric));
            }
            let at = updated.series.timestamp_ms.unwrap_or(now_ms);
            *latest_ms = Some(latest_ms.map_or(at, |l: i64| l.max(at)));
            push_series(updated, at, exemplars, &mut out.series);
        };
        // Points with exemplars go one by one, so each update is known to be that point's.
        if has_exemplars(metric) {
            for (single, exemplars) in one_point_metrics(metric) {
                let result = self
                    .store
                    .ingest_with(resource, &single, now, |u| emit(u, &exemplars));
                out.over_limit += result.over_limit;
                out.unsupported += result.unsupported;
            }
        } else {
            let result = self
                .store
                .ingest_with(resource, metric, now, |u| emit(u, &[]));
            out.over_limit += result.over_limit;
            out.unsupported += result.unsupported;
        }
    }

    /// `target_info{job, instance, <other resource attributes>} 1`, when the resource has
    /// attributes beyond those naming the job and instance.
    fn target_info_series(&self, resource: Option<&Resource>, at: i64) -> Option<TimeSeries> {
        let attributes: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        if attributes
            .iter()
            .all(|kv| IDENTIFYING.contains(&kv.key.as_str()))
        {
            return None;
        }
        let get = |key: &str| attributes.iter().find(|kv| kv.key == key).map(label_value);
        let mut labels: Vec<(String, String)> = self.external.clone();
        if let Some(service) = get("service.name") {
            let job = match get("service.namespace") {
                Some(ns) => format!("{ns}/{service}"),
                None => service,
            };
            labels.push(("job".into(), job));
        }
        if let Some(instance) = get("service.instance.id") {
            labels.push(("instance".into(), instance));
        }
        labels.extend(
            attributes
                .iter()
                .filter(|kv| !IDENTIFYING.contains(&kv.key.as_str()))
                .map(|kv| (sanitize_label_name(&kv.key), label_value(kv))),
        );
        let name = match &self.namespace {
            Some(ns) if !ns.is_empty() => format!("{}_target_info", sanitize_metric_name(ns)),
            _ => "target_info".to_string(),
        };
        labels.push(("__name__".into(), name));
        Some(TimeSeries {
            labels: sorted_labels(labels),
            samples: vec![Sample {
                value: 1.0,
                timestamp: at,
            }],
            exemplars: Vec::new(),
        })
    }
}

fn metadata(updated: Updated<'_>, metric: &Metric) -> MetricMetadata {
    MetricMetadata {
        r#type: match updated.kind {
            FamilyType::Counter => prompb::TYPE_COUNTER,
            FamilyType::Gauge => prompb::TYPE_GAUGE,
            FamilyType::Histogram => prompb::TYPE_HISTOGRAM,
            FamilyType::Summary => prompb::TYPE_SUMMARY,
        },
        metric_family_name: updated.family.to_string(),
        help: metric.description.clone(),
        unit: metric.unit.clone(),
    }
}

/// One time series per sample of the updated series (a histogram has its buckets, `_sum`
/// and `_count`), each with its labels sorted and `__name__` among them.
fn push_series(
    updated: Updated<'_>,
    at: i64,
    exemplars: &[OtlpExemplar],
    out: &mut Vec<TimeSeries>,
) {
    let bounds: Vec<f64> = match &updated.series.value {
        sentinel_pipeline::prometheus::SeriesValue::Histogram { bounds, .. } => bounds.clone(),
        _ => Vec::new(),
    };
    let bucket_name = format!("{}_bucket", updated.family);
    updated
        .series
        .value
        .for_each_sample(updated.family, |sample| {
            let mut labels = updated.labels.clone();
            labels.push(("__name__".into(), sample.name.to_string()));
            if let Some((name, value)) = sample.extra_label {
                labels.push((name.to_string(), value.to_string()));
            }
            let own: Vec<Exemplar> = exemplars
                .iter()
                .filter(|e| {
                    if sample.name == updated.family && updated.kind != FamilyType::Histogram {
                        return true;
                    }
                    sample.name == bucket_name
                        && sample
                            .extra_label
                            .is_some_and(|(_, le)| bucket_of(&bounds, value_of(e)) == le)
                })
                .map(convert_exemplar)
                .collect();
            out.push(TimeSeries {
                labels: sorted_labels(labels),
                samples: vec![Sample {
                    value: sample.value,
                    timestamp: at,
                }],
                exemplars: own,
            });
        });
}

/// The `le` of the bucket a value falls in (the first bound at or above it).
fn bucket_of(bounds: &[f64], value: f64) -> String {
    bounds
        .iter()
        .find(|b| value <= **b)
        .map(|b| sentinel_pipeline::prometheus::format_float(*b))
        .unwrap_or_else(|| "+Inf".into())
}

fn value_of(exemplar: &OtlpExemplar) -> f64 {
    match exemplar.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

fn convert_exemplar(exemplar: &OtlpExemplar) -> Exemplar {
    let mut labels = Vec::new();
    if !exemplar.trace_id.is_empty() {
        labels.push((
            "trace_id".to_string(),
            const_hex::encode(&exemplar.trace_id),
        ));
    }
    if !exemplar.span_id.is_empty() {
        labels.push(("span_id".to_string(), const_hex::encode(&exemplar.span_id)));
    }
    labels.extend(
        exemplar
            .filtered_attributes
            .iter()
            .map(|kv| (sanitize_label_name(&kv.key), label_value(kv))),
    );
    Exemplar {
        labels: sorted_labels(labels),
        value: value_of(exemplar),
        timestamp: (exemplar.time_unix_nano / 1_000_000) as i64,
    }
}

/// Labels sorted by name with the first of equal names kept, as Remote-Write requires.
fn sorted_labels(mut labels: Vec<(String, String)>) -> Vec<Label> {
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| Label { name, value })
        .collect()
}

fn has_exemplars(metric: &Metric) -> bool {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.iter().any(|p| !p.exemplars.is_empty()),
        Some(Data::Sum(s)) => s.data_points.iter().any(|p| !p.exemplars.is_empty()),
        Some(Data::Histogram(h)) => h.data_points.iter().any(|p| !p.exemplars.is_empty()),
        _ => false,
    }
}

/// The metric as one metric per data point, each with the point's exemplars.
fn one_point_metrics(metric: &Metric) -> Vec<(Metric, Vec<OtlpExemplar>)> {
    let mut header = metric.clone();
    header.data = None;
    let single = |data: Data| {
        let mut one = header.clone();
        one.data = Some(data);
        one
    };
    match &metric.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter()
            .map(|p| {
                let mut data = g.clone();
                data.data_points = vec![p.clone()];
                (single(Data::Gauge(data)), p.exemplars.clone())
            })
            .collect(),
        Some(Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| {
                let mut data = s.clone();
                data.data_points = vec![p.clone()];
                (single(Data::Sum(data)), p.exemplars.clone())
            })
            .collect(),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| {
                let mut data = h.clone();
                data.data_points = vec![p.clone()];
                (single(Data::Histogram(data)), p.exemplars.clone())
            })
            .collect(),
        _ => vec![(metric.clone(), Vec::new())],
    }
}
