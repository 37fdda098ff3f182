//! Metric data points: series go to the dictionary (keyed by an xxh64 the agent computes),
//! points to narrow typed tables.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use tokio_postgres::types::Type;

use super::rows::{service_name, sorted};
use super::sanitize::Cleaner;
use super::types::{RowContext, Timestamp};

pub const POINT_COLUMNS: &str = "ts, series_id, start_ts, value, flags";
pub const POINT_TYPES: [Type; 5] = [
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::FLOAT8,
    Type::INT4,
];
pub const HISTOGRAM_COLUMNS: &str =
    "ts, series_id, start_ts, count, sum, min, max, bucket_bounds, bucket_counts, flags";
pub const HISTOGRAM_TYPES: [Type; 10] = [
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8_ARRAY,
    Type::INT8_ARRAY,
    Type::INT4,
];
pub const OTHER_COLUMNS: &str = "ts, series_id, start_ts, count, sum, data, flags";
pub const OTHER_TYPES: [Type; 7] = [
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::FLOAT8,
    Type::JSONB,
    Type::INT4,
];

/// One entry of the series dictionary.
#[derive(Debug, Clone)]
pub struct Series {
    pub service_name: String,
    pub metric_name: String,
    pub description: Option<String>,
    pub unit: String,
    pub kind: &'static str,
    pub temporality: Option<&'static str>,
    pub is_monotonic: Option<bool>,
    pub scope_name: Option<String>,
    pub attributes: String,
    pub resource_attributes: String,
}

pub struct PointRow {
    pub ts: Timestamp,
    pub series_id: i64,
    pub start_ts: Option<Timestamp>,
    pub value: f64,
    pub flags: i32,
}

pub struct HistogramRow {
    pub ts: Timestamp,
    pub series_id: i64,
    pub start_ts: Option<Timestamp>,
    pub count: i64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub bounds: Vec<f64>,
    pub counts: Vec<i64>,
    pub flags: i32,
}

pub struct OtherRow {
    pub ts: Timestamp,
    pub series_id: i64,
    pub start_ts: Option<Timestamp>,
    pub count: i64,
    pub sum: Option<f64>,
    pub data: String,
    pub flags: i32,
}

/// The rows of one or more metric requests.
#[derive(Default)]
pub struct MetricRows {
    pub series: HashMap<i64, Series>,
    pub points: Vec<PointRow>,
    pub histograms: Vec<HistogramRow>,
    pub other: Vec<OtherRow>,
}

fn temporality_name(value: i32) -> Option<&'static str> {
    match value {
        1 => Some("delta"),
        2 => Some("cumulative"),
        _ => None,
    }
}

/// What identifies a series besides its point attributes.
struct MetricKey<'a> {
    service: &'a str,
    resource_json: &'a str,
    scope_name: Option<&'a str>,
    name: &'a str,
    unit: &'a str,
    kind: &'static str,
    temporality: Option<&'static str>,
}

/// The agent-side series id: xxh64 over everything that tells series apart.
fn series_id(key: &MetricKey<'_>, attributes_json: &str) -> i64 {
    let mut hasher = xxhash_rust::xxh64::Xxh64::new(0);
    for part in [
        key.service,
        key.resource_json,
        key.scope_name.unwrap_or(""),
        key.name,
        key.unit,
        key.kind,
        key.temporality.unwrap_or(""),
        attributes_json,
    ] {
        hasher.update(part.as_bytes());
        hasher.update(&[0xff]); // never part of UTF-8, so fields cannot run together
    }
    hasher.digest() as i64
}

impl MetricRows {
    fn series_for(
        &mut self,
        ctx: &mut RowContext,
        key: &MetricKey<'_>,
        attributes: &[KeyValue],
        description: &Option<String>,
        is_monotonic: Option<bool>,
    ) -> i64 {
        let mut json = ctx.cleaner.attributes_json(&sorted(attributes));
        if ctx.cleaner.truncated {
            Cleaner::flag_truncated(&mut json);
            ctx.truncated_rows += 1;
        }
        ctx.cleaner.reset();
        let id = series_id(key, &json);
        self.series.entry(id).or_insert_with(|| Series {
            service_name: key.service.to_string(),
            metric_name: key.name.to_string(),
            description: description.clone(),
            unit: key.unit.to_string(),
            kind: key.kind,
            temporality: key.temporality,
            is_monotonic,
            scope_name: key.scope_name.map(str::to_string),
            attributes: json,
            resource_attributes: key.resource_json.to_string(),
        });
        id
    }

    /// Adds every data point of `request`.
    pub fn add(&mut self, request: &ExportMetricsServiceRequest, ctx: &mut RowContext) {
        for resource_metrics in &request.resource_metrics {
            let resource = resource_metrics.resource.as_ref();
            let service = service_name(&mut ctx.cleaner, resource);
            let resource_attrs = resource.map(|r| sorted(&r.attributes)).unwrap_or_default();
            let mut resource_json = ctx.cleaner.attributes_json(&resource_attrs);
            if ctx.cleaner.truncated {
                Cleaner::flag_truncated(&mut resource_json);
            }
            ctx.cleaner.reset();
            for scope_metrics in &resource_metrics.scope_metrics {
                let scope_name = scope_metrics
                    .scope
                    .as_ref()
                    .filter(|s| !s.name.is_empty())
                    .map(|s| ctx.cleaner.text(&s.name).into_owned());
                for metric in &scope_metrics.metrics {
                    let name = ctx.cleaner.text(&metric.name).into_owned();
                    let unit = ctx.cleaner.text(&metric.unit).into_owned();
                    let description = (!metric.description.is_empty())
                        .then(|| ctx.cleaner.text(&metric.description).into_owned());
                    ctx.cleaner.reset();
                    let mut key = MetricKey {
                        service: &service,
                        resource_json: &resource_json,
                        scope_name: scope_name.as_deref(),
                        name: &name,
                        unit: &unit,
                        kind: "gauge",
                        temporality: None,
                    };
                    match &metric.data {
                        None => {}
                        Some(Data::Gauge(gauge)) => {
                            for p in &gauge.data_points {
                                let id =
                                    self.series_for(ctx, &key, &p.attributes, &description, None);
                                self.points.push(point(ctx, id, p));
                            }
                        }
                        Some(Data::Sum(sum)) => {
                            key.kind = "sum";
                            key.temporality = temporality_name(sum.aggregation_temporality);
                            for p in &sum.data_points {
                                let id = self.series_for(
                                    ctx,
                                    &key,
                                    &p.attributes,
                                    &description,
                                    Some(sum.is_monotonic),
                                );
                                self.points.push(point(ctx, id, p));
                            }
                        }
                        Some(Data::Histogram(histogram)) => {
                            key.kind = "histogram";
                            key.temporality = temporality_name(histogram.aggregation_temporality);
                            for p in &histogram.data_points {
                                let id =
                                    self.series_for(ctx, &key, &p.attributes, &description, None);
                                self.histograms.push(HistogramRow {
                                    ts: ctx.clamp(p.time_unix_nano),
                                    series_id: id,
                                    start_ts: ctx.optional_time(p.start_time_unix_nano),
                                    count: p.count.min(i64::MAX as u64) as i64,
                                    sum: p.sum,
                                    min: p.min,
                                    max: p.max,
                                    bounds: p.explicit_bounds.clone(),
                                    counts: p
                                        .bucket_counts
                                        .iter()
                                        .map(|c| (*c).min(i64::MAX as u64) as i64)
                                        .collect(),
                                    flags: p.flags as i32,
                                });
                            }
                        }
                        Some(Data::ExponentialHistogram(histogram)) => {
                            key.kind = "exponential_histogram";
                            key.temporality = temporality_name(histogram.aggregation_temporality);
                            for p in &histogram.data_points {
                                let id =
                                    self.series_for(ctx, &key, &p.attributes, &description, None);
                                let buckets = |b: &Option<opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets>| {
                                    b.as_ref().map_or_else(
                                        || "null".to_string(),
                                        |b| format!("{{\"offset\":{},\"bucket_counts\":{:?}}}", b.offset, b.bucket_counts),
                                    )
                                };
                                let data = format!(
                                    "{{\"scale\":{},\"zero_count\":{},\"zero_threshold\":{},\"positive\":{},\"negative\":{},\"min\":{},\"max\":{}}}",
                                    p.scale,
                                    p.zero_count,
                                    json_number(p.zero_threshold),
                                    buckets(&p.positive),
                                    buckets(&p.negative),
                                    p.min.map_or("null".into(), json_number),
                                    p.max.map_or("null".into(), json_number),
                                );
                                self.other.push(OtherRow {
                                    ts: ctx.clamp(p.time_unix_nano),
                                    series_id: id,
                                    start_ts: ctx.optional_time(p.start_time_unix_nano),
                                    count: p.count.min(i64::MAX as u64) as i64,
                                    sum: p.sum,
                                    data,
                                    flags: p.flags as i32,
                                });
                            }
                        }
                        Some(Data::Summary(summary)) => {
                            key.kind = "summary";
                            for p in &summary.data_points {
                                let id =
                                    self.series_for(ctx, &key, &p.attributes, &description, None);
                                let quantiles: Vec<String> = p
                                    .quantile_values
                                    .iter()
                                    .map(|q| {
                                        format!(
                                            "{{\"quantile\":{},\"value\":{}}}",
                                            json_number(q.quantile),
                                            json_number(q.value)
                                        )
                                    })
                                    .collect();
                                self.other.push(OtherRow {
                                    ts: ctx.clamp(p.time_unix_nano),
                                    series_id: id,
                                    start_ts: ctx.optional_time(p.start_time_unix_nano),
                                    count: p.count.min(i64::MAX as u64) as i64,
                                    sum: Some(p.sum),
                                    data: format!("{{\"quantiles\":[{}]}}", quantiles.join(",")),
                                    flags: p.flags as i32,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
}

fn point(
    ctx: &mut RowContext,
    series_id: i64,
    p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
) -> PointRow {
    let value = match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => f64::NAN,
    };
    PointRow {
        ts: ctx.clamp(p.time_unix_nano),
        series_id,
        start_ts: ctx.optional_time(p.start_time_unix_nano),
        value,
        flags: p.flags as i32,
    }
}

/// A double as JSON (non-finite values as strings, as in attributes).
fn json_number(d: f64) -> String {
    if d.is_finite() {
        format!("{d:?}")
    } else {
        format!("\"{d}\"")
    }
}
