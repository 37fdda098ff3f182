//! Metric data points: series go to the dictionary (keyed by an xxh64 the agent computes),
//! points to narrow typed tables.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use sentinel_pipeline::visit::{self, DataPoint, ExportRequest, ResourceGroup, ScopeGroup};
use serde_json::{json, Value};
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

/// What every series of one metric shares: its key and what only describes it.
struct MetricSeries<'a> {
    key: MetricKey<'a>,
    description: Option<&'a str>,
    is_monotonic: Option<bool>,
}

/// The dictionary columns of one resource, cleaned once for all its metrics.
struct ResourceColumns {
    service: String,
    json: String,
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
    /// Adds every data point of `request`.
    pub fn add(&mut self, request: &ExportMetricsServiceRequest, ctx: &mut RowContext) {
        for group in request.groups() {
            let resource = resource_columns(ctx, group.resource());
            for scope in group.scopes() {
                let scope_name = scope
                    .scope()
                    .filter(|s| !s.name.is_empty())
                    .map(|s| ctx.cleaner.text(&s.name).into_owned());
                for metric in scope.items() {
                    self.add_metric(ctx, &resource, scope_name.as_deref(), metric);
                }
            }
        }
    }

    /// Adds the points of one metric, each to its series and to its type's table.
    fn add_metric(
        &mut self,
        ctx: &mut RowContext,
        resource: &ResourceColumns,
        scope_name: Option<&str>,
        metric: &Metric,
    ) {
        let name = ctx.cleaner.text(&metric.name).into_owned();
        let unit = ctx.cleaner.text(&metric.unit).into_owned();
        let description = (!metric.description.is_empty())
            .then(|| ctx.cleaner.text(&metric.description).into_owned());
        ctx.cleaner.reset();
        let Some(data) = &metric.data else {
            return;
        };
        let (kind, temporality, is_monotonic) = describe(data);
        let series = MetricSeries {
            key: MetricKey {
                service: &resource.service,
                resource_json: &resource.json,
                scope_name,
                name: &name,
                unit: &unit,
                kind,
                temporality,
            },
            description: description.as_deref(),
            is_monotonic,
        };
        for point in visit::points(metric) {
            let id = self.series_for(ctx, &series, point.attributes());
            match point {
                DataPoint::Number(p) => self.points.push(number_row(ctx, id, p)),
                DataPoint::Histogram(p) => self.histograms.push(histogram_row(ctx, id, p)),
                DataPoint::ExponentialHistogram(p) => {
                    self.other.push(exponential_histogram_row(ctx, id, p))
                }
                DataPoint::Summary(p) => self.other.push(summary_row(ctx, id, p)),
            }
        }
    }

    /// The id of a point's series, entered in the dictionary when new.
    fn series_for(
        &mut self,
        ctx: &mut RowContext,
        series: &MetricSeries<'_>,
        attributes: &[KeyValue],
    ) -> i64 {
        let mut json = ctx.cleaner.attributes_json(&sorted(attributes));
        if ctx.cleaner.truncated {
            Cleaner::flag_truncated(&mut json);
            ctx.truncated_rows += 1;
        }
        ctx.cleaner.reset();
        let key = &series.key;
        let id = series_id(key, &json);
        self.series.entry(id).or_insert_with(|| Series {
            service_name: key.service.to_string(),
            metric_name: key.name.to_string(),
            description: series.description.map(str::to_string),
            unit: key.unit.to_string(),
            kind: key.kind,
            temporality: key.temporality,
            is_monotonic: series.is_monotonic,
            scope_name: key.scope_name.map(str::to_string),
            attributes: json,
            resource_attributes: key.resource_json.to_string(),
        });
        id
    }
}

/// Service name and sorted attributes JSON of a resource (flagged when cut).
fn resource_columns(ctx: &mut RowContext, resource: Option<&Resource>) -> ResourceColumns {
    let service = service_name(&mut ctx.cleaner, resource);
    let attributes = resource.map(|r| sorted(&r.attributes)).unwrap_or_default();
    let mut json = ctx.cleaner.attributes_json(&attributes);
    if ctx.cleaner.truncated {
        Cleaner::flag_truncated(&mut json);
    }
    ctx.cleaner.reset();
    ResourceColumns { service, json }
}

/// A metric's kind, temporality and monotonicity, as the dictionary names them.
fn describe(data: &Data) -> (&'static str, Option<&'static str>, Option<bool>) {
    match data {
        Data::Gauge(_) => ("gauge", None, None),
        Data::Sum(sum) => (
            "sum",
            temporality_name(sum.aggregation_temporality),
            Some(sum.is_monotonic),
        ),
        Data::Histogram(h) => (
            "histogram",
            temporality_name(h.aggregation_temporality),
            None,
        ),
        Data::ExponentialHistogram(h) => (
            "exponential_histogram",
            temporality_name(h.aggregation_temporality),
            None,
        ),
        Data::Summary(_) => ("summary", None, None),
    }
}

fn saturating_i64(count: u64) -> i64 {
    count.min(i64::MAX as u64) as i64
}

fn number_row(ctx: &mut RowContext, series_id: i64, p: &NumberDataPoint) -> PointRow {
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

fn histogram_row(ctx: &mut RowContext, series_id: i64, p: &HistogramDataPoint) -> HistogramRow {
    HistogramRow {
        ts: ctx.clamp(p.time_unix_nano),
        series_id,
        start_ts: ctx.optional_time(p.start_time_unix_nano),
        count: saturating_i64(p.count),
        sum: p.sum,
        min: p.min,
        max: p.max,
        bounds: p.explicit_bounds.clone(),
        counts: p
            .bucket_counts
            .iter()
            .copied()
            .map(saturating_i64)
            .collect(),
        flags: p.flags as i32,
    }
}

fn exponential_histogram_row(
    ctx: &mut RowContext,
    series_id: i64,
    p: &ExponentialHistogramDataPoint,
) -> OtherRow {
    OtherRow {
        ts: ctx.clamp(p.time_unix_nano),
        series_id,
        start_ts: ctx.optional_time(p.start_time_unix_nano),
        count: saturating_i64(p.count),
        sum: p.sum,
        data: exponential_histogram_json(p).to_string(),
        flags: p.flags as i32,
    }
}

fn summary_row(ctx: &mut RowContext, series_id: i64, p: &SummaryDataPoint) -> OtherRow {
    OtherRow {
        ts: ctx.clamp(p.time_unix_nano),
        series_id,
        start_ts: ctx.optional_time(p.start_time_unix_nano),
        count: saturating_i64(p.count),
        sum: Some(p.sum),
        data: summary_json(p).to_string(),
        flags: p.flags as i32,
    }
}

/// The `data` column of an exponential histogram point: scale, zero bucket, buckets.
fn exponential_histogram_json(p: &ExponentialHistogramDataPoint) -> Value {
    let buckets = |b: &Option<Buckets>| {
        b.as_ref().map_or(
            Value::Null,
            |b| json!({"offset": b.offset, "bucket_counts": b.bucket_counts}),
        )
    };
    json!({
        "scale": p.scale,
        "zero_count": p.zero_count,
        "zero_threshold": json_number(p.zero_threshold),
        "positive": buckets(&p.positive),
        "negative": buckets(&p.negative),
        "min": p.min.map_or(Value::Null, json_number),
        "max": p.max.map_or(Value::Null, json_number),
    })
}

/// The `data` column of a summary point: its quantiles.
fn summary_json(p: &SummaryDataPoint) -> Value {
    let quantiles: Vec<Value> = p
        .quantile_values
        .iter()
        .map(|q| json!({"quantile": json_number(q.quantile), "value": json_number(q.value)}))
        .collect();
    json!({ "quantiles": quantiles })
}

/// A double as JSON; non-finite values, which JSON has no number for, as strings (as in
/// attributes).
fn json_number(d: f64) -> Value {
    serde_json::Number::from_f64(d).map_or_else(|| Value::String(d.to_string()), Value::Number)
}

#[cfg(test)]
mod tests;
