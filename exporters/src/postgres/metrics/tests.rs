use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{json, Value};

use super::MetricRows;
use crate::postgres::types::RowContext;

const SECOND: u64 = 1_000_000_000;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: format!("about {name}"),
        data: Some(data),
        ..Default::default()
    }
}

fn number(route: &str, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![kv("route", route)],
        start_time_unix_nano: SECOND,
        time_unix_nano: 2 * SECOND,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// One metric of every type under resource `shop`, scope `meter`.
fn request() -> ExportMetricsServiceRequest {
    let metrics = vec![
        metric(
            "queue.depth",
            "1",
            Data::Gauge(Gauge {
                data_points: vec![number("/a", 1.5), number("/b", 2.5)],
            }),
        ),
        metric(
            "orders",
            "{order}",
            Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    value: Some(number_data_point::Value::AsInt(7)),
                    time_unix_nano: 3 * SECOND,
                    ..Default::default()
                }],
                aggregation_temporality: 1,
                is_monotonic: true,
            }),
        ),
        metric(
            "latency",
            "ms",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: 4 * SECOND,
                    count: 4,
                    sum: Some(30.5),
                    min: Some(0.5),
                    max: Some(20.0),
                    bucket_counts: vec![1, 1, 1, u64::MAX],
                    explicit_bounds: vec![1.0, 5.0, 10.0],
                    flags: 1,
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "sizes",
            "By",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: 5 * SECOND,
                    count: 3,
                    sum: Some(1e-5),
                    scale: -2,
                    zero_count: 1,
                    zero_threshold: 1e16,
                    positive: Some(Buckets {
                        offset: -1,
                        bucket_counts: vec![1, 2],
                    }),
                    negative: None,
                    min: Some(f64::NEG_INFINITY),
                    max: Some(0.25),
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "rtt",
            "s",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: 6 * SECOND,
                    count: 2,
                    sum: 3.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 1.0,
                        },
                        ValueAtQuantile {
                            quantile: 1.0,
                            value: f64::NAN,
                        },
                    ],
                    ..Default::default()
                }],
            }),
        ),
        Metric {
            name: "no.data".into(),
            ..Default::default()
        },
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "shop"), kv("host.name", "h1")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "meter".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn rows_of(request: &ExportMetricsServiceRequest) -> MetricRows {
    let mut ctx = RowContext::new(4096, (0, i64::MAX));
    let mut rows = MetricRows::default();
    rows.add(request, &mut ctx);
    rows
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn every_point_type_lands_in_its_table_under_its_series() {
    let rows = rows_of(&request());
    assert_eq!(rows.points.len(), 3, "two gauge points and one sum point");
    assert_eq!(rows.histograms.len(), 1);
    assert_eq!(rows.other.len(), 2, "exponential histogram and summary");
    assert_eq!(rows.series.len(), 6, "one series per attribute set");

    let series = |id: i64| &rows.series[&id];
    let gauge = series(rows.points[0].series_id);
    assert_eq!(
        (gauge.metric_name.as_str(), gauge.kind, gauge.temporality),
        ("queue.depth", "gauge", None)
    );
    assert_eq!(gauge.service_name, "shop");
    assert_eq!(gauge.scope_name.as_deref(), Some("meter"));
    assert_eq!(gauge.description.as_deref(), Some("about queue.depth"));
    assert_eq!(parse(&gauge.attributes), json!({"route": "/a"}));
    assert_eq!(
        gauge.resource_attributes, r#"{"host.name":"h1","service.name":"shop"}"#,
        "resource attributes sorted by key"
    );
    assert_eq!(rows.points[0].value, 1.5);
    assert_eq!(rows.points[0].ts.0, 2_000_000);
    assert_eq!(rows.points[0].start_ts.map(|t| t.0), Some(1_000_000));
    assert_ne!(rows.points[0].series_id, rows.points[1].series_id);

    let sum = series(rows.points[2].series_id);
    assert_eq!(
        (
            sum.kind,
            sum.temporality,
            sum.is_monotonic,
            sum.unit.as_str()
        ),
        ("sum", Some("delta"), Some(true), "{order}")
    );
    assert_eq!(rows.points[2].value, 7.0);
    assert!(rows.points[2].start_ts.is_none(), "zero start time is NULL");

    let h = &rows.histograms[0];
    let hs = series(h.series_id);
    assert_eq!((hs.kind, hs.temporality), ("histogram", Some("cumulative")));
    assert_eq!(
        (h.count, h.sum, h.min, h.max),
        (4, Some(30.5), Some(0.5), Some(20.0))
    );
    assert_eq!(h.bounds, [1.0, 5.0, 10.0]);
    assert_eq!(h.counts, [1, 1, 1, i64::MAX], "counts saturate at i64::MAX");
    assert_eq!(h.flags, 1);

    let kinds: Vec<&str> = rows
        .other
        .iter()
        .map(|o| series(o.series_id).kind)
        .collect();
    assert_eq!(kinds, ["exponential_histogram", "summary"]);
    assert_eq!(rows.other[1].sum, Some(3.0));
}

#[test]
fn exponential_histogram_and_summary_data_keep_their_json() {
    let rows = rows_of(&request());
    // What the exporter wrote before it built this JSON with serde_json: the values
    // stored as jsonb must not change.
    let exponential = concat!(
        r#"{"scale":-2,"zero_count":1,"zero_threshold":1e16,"#,
        r#""positive":{"offset":-1,"bucket_counts":[1, 2]},"negative":null,"#,
        r#""min":"-inf","max":0.25}"#
    );
    let summary = r#"{"quantiles":[{"quantile":0.5,"value":1.0},{"quantile":1.0,"value":"NaN"}]}"#;
    assert_eq!(parse(&rows.other[0].data), parse(exponential));
    assert_eq!(parse(&rows.other[1].data), parse(summary));
    assert_eq!(rows.other[0].sum, Some(1e-5));
}

#[test]
fn series_ids_do_not_change() {
    // Ids are stored in the series dictionary: a change would split every existing series.
    let rows = rows_of(&request());
    let mut ids: Vec<(String, i64)> = rows
        .series
        .iter()
        .map(|(id, s)| (format!("{}{}", s.metric_name, s.attributes), *id))
        .collect();
    ids.sort();
    assert_eq!(ids, EXPECTED_IDS.map(|(k, id)| (k.to_string(), id)));
}

/// The ids the exporter computed before its metric walk was split into phases.
const EXPECTED_IDS: [(&str, i64); 6] = [
    ("latency{}", 5415027453430668330),
    ("orders{}", -6288401765599948437),
    (r#"queue.depth{"route":"/a"}"#, 6672225788349116329),
    (r#"queue.depth{"route":"/b"}"#, -4024697149247821707),
    ("rtt{}", 7954147031241742633),
    ("sizes{}", -8674336223103303223),
];
