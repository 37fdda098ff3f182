//! The series the exporter serves: OTLP points folded into cumulative Prometheus series,
//! expired when stale, bounded in number.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::{Duration, Instant};

use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::{
    number_data_point, AggregationTemporality, Metric, NumberDataPoint,
};
use sentinel_pipeline::otlp::resource::v1::Resource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FamilyType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl FamilyType {
    fn as_str(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge => "gauge",
            FamilyType::Histogram => "histogram",
            FamilyType::Summary => "summary",
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    Number(f64),
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

struct Series {
    value: Value,
    updated: Instant,
}

type Labels = Vec<(String, String)>;

struct Family {
    kind: FamilyType,
    help: String,
    series: HashMap<Labels, Series>,
}

/// What the exporter learned from one export.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Points dropped because the series cap was reached.
    pub over_limit: usize,
    /// Points of kinds Prometheus text cannot express (exponential histograms).
    pub unsupported: usize,
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

impl Store {
    pub fn new(
        namespace: Option<String>,
        const_labels: &BTreeMap<String, String>,
        resource_labels: bool,
        expiration: Duration,
        max_series: usize,
    ) -> Self {
        Store {
            namespace,
            const_labels: const_labels
                .iter()
                .map(|(k, v)| (sanitize_label(k), v.clone()))
                .collect(),
            resource_labels,
            expiration,
            max_series,
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
        let mut result = Ingested::default();
        let base = self.base_labels(resource);
        let name = self.metric_name(&metric.name);
        let Some(data) = &metric.data else {
            return result;
        };
        match data {
            Data::Gauge(g) => {
                for p in &g.data_points {
                    self.put(
                        &name,
                        FamilyType::Gauge,
                        metric,
                        labels(&base, &p.attributes),
                        now,
                        &mut result,
                        |_| Value::Number(number(p)),
                    );
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
                    self.put(
                        &family,
                        kind,
                        metric,
                        labels(&base, &p.attributes),
                        now,
                        &mut result,
                        |old| match (delta, old) {
                            (true, Some(Value::Number(previous))) => {
                                Value::Number(previous + number(p))
                            }
                            _ => Value::Number(number(p)),
                        },
                    );
                }
            }
            Data::Histogram(h) => {
                let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &h.data_points {
                    let fresh = Value::Histogram {
                        bounds: p.explicit_bounds.clone(),
                        counts: p.bucket_counts.clone(),
                        sum: p.sum.unwrap_or(0.0),
                        count: p.count,
                    };
                    self.put(
                        &name,
                        FamilyType::Histogram,
                        metric,
                        labels(&base, &p.attributes),
                        now,
                        &mut result,
                        |old| match (delta, old) {
                            (
                                true,
                                Some(Value::Histogram {
                                    bounds,
                                    counts,
                                    sum,
                                    count,
                                }),
                            ) if *bounds == p.explicit_bounds
                                && counts.len() == p.bucket_counts.len() =>
                            {
                                Value::Histogram {
                                    bounds: bounds.clone(),
                                    counts: counts
                                        .iter()
                                        .zip(&p.bucket_counts)
                                        .map(|(a, b)| a + b)
                                        .collect(),
                                    sum: sum + p.sum.unwrap_or(0.0),
                                    count: count + p.count,
                                }
                            }
                            _ => fresh.clone(),
                        },
                    );
                }
            }
            Data::Summary(s) => {
                for p in &s.data_points {
                    let value = Value::Summary {
                        quantiles: p
                            .quantile_values
                            .iter()
                            .map(|q| (q.quantile, q.value))
                            .collect(),
                        sum: p.sum,
                        count: p.count,
                    };
                    self.put(
                        &name,
                        FamilyType::Summary,
                        metric,
                        labels(&base, &p.attributes),
                        now,
                        &mut result,
                        |_| value.clone(),
                    );
                }
            }
            Data::ExponentialHistogram(h) => result.unsupported += h.data_points.len(),
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        family_name: &str,
        kind: FamilyType,
        metric: &Metric,
        labels: Labels,
        now: Instant,
        result: &mut Ingested,
        next: impl FnOnce(Option<&Value>) -> Value,
    ) {
        let at_limit = self.series_count >= self.max_series;
        let family = self
            .families
            .entry(family_name.to_string())
            .or_insert_with(|| Family {
                kind,
                help: metric.description.clone(),
                series: HashMap::new(),
            });
        if family.kind != kind {
            // The same name with another type: the newest definition wins.
            self.series_count -= family.series.len();
            family.series.clear();
            family.kind = kind;
        }
        match family.series.get_mut(&labels) {
            Some(series) => {
                series.value = next(Some(&series.value));
                series.updated = now;
            }
            None if at_limit => result.over_limit += 1,
            None => {
                family.series.insert(
                    labels,
                    Series {
                        value: next(None),
                        updated: now,
                    },
                );
                self.series_count += 1;
            }
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

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, family) in &self.families {
            if !family.help.is_empty() {
                let _ = writeln!(
                    out,
                    "# HELP {name} {}",
                    family.help.replace('\\', "\\\\").replace('\n', "\\n")
                );
            }
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
            let mut series: Vec<_> = family.series.iter().collect();
            series.sort_by(|a, b| a.0.cmp(b.0));
            for (labels, s) in series {
                match &s.value {
                    Value::Number(v) => line(&mut out, name, labels, None, *v),
                    Value::Histogram {
                        bounds,
                        counts,
                        sum,
                        count,
                    } => {
                        let mut cumulative = 0;
                        for (i, c) in counts.iter().enumerate() {
                            cumulative += c;
                            let le = bounds
                                .get(i)
                                .map(|b| format_float(*b))
                                .unwrap_or_else(|| "+Inf".into());
                            line(
                                &mut out,
                                &format!("{name}_bucket"),
                                labels,
                                Some(("le", &le)),
                                cumulative as f64,
                            );
                        }
                        if counts.len() <= bounds.len() {
                            line(
                                &mut out,
                                &format!("{name}_bucket"),
                                labels,
                                Some(("le", "+Inf")),
                                *count as f64,
                            );
                        }
                        line(&mut out, &format!("{name}_sum"), labels, None, *sum);
                        line(
                            &mut out,
                            &format!("{name}_count"),
                            labels,
                            None,
                            *count as f64,
                        );
                    }
                    Value::Summary {
                        quantiles,
                        sum,
                        count,
                    } => {
                        for (q, v) in quantiles {
                            line(
                                &mut out,
                                name,
                                labels,
                                Some(("quantile", &format_float(*q))),
                                *v,
                            );
                        }
                        line(&mut out, &format!("{name}_sum"), labels, None, *sum);
                        line(
                            &mut out,
                            &format!("{name}_count"),
                            labels,
                            None,
                            *count as f64,
                        );
                    }
                }
            }
        }
        out
    }

    fn metric_name(&self, name: &str) -> String {
        let base = sanitize_name(name);
        match &self.namespace {
            Some(ns) if !ns.is_empty() => format!("{}_{base}", sanitize_name(ns)),
            _ => base,
        }
    }

    /// `job` and `instance` from the resource (OTel → Prometheus compatibility), plus
    /// resource attributes when enabled, plus const labels.
    fn base_labels(&self, resource: Option<&Resource>) -> Labels {
        let attrs: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let get = |key: &str| attrs.iter().find(|kv| kv.key == key).map(text);
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
            out.extend(attrs.iter().map(|kv| (sanitize_label(&kv.key), text(kv))));
        }
        out
    }
}

fn labels(base: &Labels, attributes: &[KeyValue]) -> Labels {
    let mut out = base.clone();
    out.extend(
        attributes
            .iter()
            .map(|kv| (sanitize_label(&kv.key), text(kv))),
    );
    out.sort();
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

fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

fn sanitize_label(name: &str) -> String {
    sanitize_name(name).replace(':', "_")
}

fn format_float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        v.to_string()
    }
}

fn line(out: &mut String, name: &str, labels: &Labels, extra: Option<(&str, &str)>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
        {
            if !first {
                out.push(',');
            }
            first = false;
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = write!(out, "{k}=\"{escaped}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_float(value));
}
