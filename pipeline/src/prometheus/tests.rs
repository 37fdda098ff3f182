use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;
use crate::otlp::common::v1::{any_value, AnyValue, KeyValue};
use crate::otlp::metrics::v1::metric::Data;
use crate::otlp::metrics::v1::{
    number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, Sum,
};
use crate::otlp::resource::v1::Resource;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn store() -> Store {
    Store::new(&StoreSettings {
        namespace: None,
        const_labels: BTreeMap::new(),
        resource_labels: false,
        expiration: Duration::from_secs(60),
        max_series: 100,
    })
}

fn delta_counter(value: i64, time_unix_nano: u64) -> Metric {
    Metric {
        name: "http.requests".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes: vec![kv("route", "/a"), kv("job", "from-point")],
                time_unix_nano,
                value: Some(number_data_point::Value::AsInt(value)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

#[test]
fn delta_sums_accumulate_and_each_update_is_visited_with_its_timestamp() {
    let mut store = store();
    let resource = Resource {
        attributes: vec![kv("service.name", "checkout")],
        ..Default::default()
    };
    let mut seen = Vec::new();
    for (value, at) in [(3, 1_000_000_000), (4, 2_000_000_000)] {
        store.ingest_with(
            Some(&resource),
            &delta_counter(value, at),
            Instant::now(),
            |u| {
                let SeriesValue::Number(v) = u.series.value else {
                    panic!("a sum is a number")
                };
                seen.push((
                    u.family.to_string(),
                    u.labels.clone(),
                    v,
                    u.series.timestamp_ms,
                ));
            },
        );
    }
    let labels = vec![
        ("job".to_string(), "checkout".to_string()),
        ("route".to_string(), "/a".to_string()),
    ];
    assert_eq!(
        seen,
        vec![
            (
                "http_requests_total".into(),
                labels.clone(),
                3.0,
                Some(1000)
            ),
            ("http_requests_total".into(), labels, 7.0, Some(2000)),
        ],
        "the resource's job wins over a point attribute of the same name"
    );
}

#[test]
fn a_histogram_expands_to_cumulative_buckets_sum_and_count() {
    let mut store = store();
    let metric = Metric {
        name: "latency".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                explicit_bounds: vec![0.1, 1.0],
                bucket_counts: vec![2, 3, 1],
                sum: Some(4.5),
                count: 6,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    store.ingest(None, &metric, Instant::now());
    let (name, family) = store.families().next().expect("one family");
    let series = family.series.values().next().expect("one series");
    let mut samples = Vec::new();
    series.value.for_each_sample(name, |s| {
        samples.push((
            s.name.to_string(),
            s.extra_label.map(|(k, v)| format!("{k}={v}")),
            s.value,
        ))
    });
    let le = |v: &str| Some(format!("le={v}"));
    assert_eq!(
        samples,
        vec![
            ("latency_bucket".into(), le("0.1"), 2.0),
            ("latency_bucket".into(), le("1"), 5.0),
            ("latency_bucket".into(), le("+Inf"), 6.0),
            ("latency_sum".into(), None, 4.5),
            ("latency_count".into(), None, 6.0),
        ]
    );
}

#[test]
fn names_are_sanitised_like_prometheus() {
    assert_eq!(sanitize_metric_name("system.cpu:time"), "system_cpu:time");
    assert_eq!(sanitize_metric_name("1up"), "_1up");
    assert_eq!(sanitize_label_name("k8s:pod.name"), "k8s_pod_name");
    assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
}
