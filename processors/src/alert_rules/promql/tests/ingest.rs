//! OTLP metrics into the store, named as the `prometheus` exporter names them.

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::{
    number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sentinel_pipeline::otlp::resource::v1::Resource;

use super::{assert_close, eval_one, eval_vector};
use crate::alert_rules::promql::{SeriesStore, StoreLimits};

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn number(v: f64, at_s: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![kv("http.route", "/a")],
        time_unix_nano: at_s * 1_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn request(at_s: u64, delta: f64, gauge: f64) -> ExportMetricsServiceRequest {
    let metrics = vec![
        Metric {
            name: "http.requests".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![number(delta, at_s)],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "queue.fill".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![number(gauge, at_s)],
            })),
            ..Default::default()
        },
        Metric {
            name: "latency".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: at_s * 1_000_000_000,
                    explicit_bounds: vec![0.1, 1.0],
                    bucket_counts: vec![2, 1, 1],
                    count: 4,
                    sum: Some(2.5),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })),
            ..Default::default()
        },
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "shop"), kv("service.instance.id", "i-1")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn otlp_metrics_become_the_exporters_series() {
    let mut store = SeriesStore::new(StoreLimits::default(), std::time::Duration::from_secs(600));
    for (i, at) in [60u64, 90, 120].into_iter().enumerate() {
        let report = store.ingest_metrics(&request(at, 3.0, i as f64), 0);
        // 1 counter + 1 gauge + 3 buckets + _sum + _count.
        assert_eq!(report.stored, 7, "{report:?}");
    }
    assert_eq!(
        eval_vector(&store, "http_requests_total", 120.0),
        vec![(
            "http_requests_total{http_route=\"/a\", instance=\"i-1\", job=\"shop\"}".into(),
            9.0
        )]
    );
    assert_close(eval_one(&store, "queue_fill", 120.0), 2.0);
    // Delta histograms accumulate: 3 requests of 4 observations.
    assert_close(eval_one(&store, "latency_count", 120.0), 12.0);
    assert_close(eval_one(&store, "latency_bucket{le=\"+Inf\"}", 120.0), 12.0);
    assert_close(eval_one(&store, "latency_bucket{le=\"1\"}", 120.0), 9.0);
    // Cumulative 3, 6, 9 at 60, 90, 120 over [0, 120]: +6 over 60 s; extrapolated back
    // to the zero point, 60 × 3/6 = 30 s before the first sample: 6 × 90 / 60 = 9.
    assert_close(
        eval_one(&store, "increase(http_requests_total[2m])", 120.0),
        9.0,
    );
    // Median of 12: rank 6 in (0.1, 1] holding 3 past 6: 0.1 + 0.9 × 0/3.
    assert_close(
        eval_one(&store, "histogram_quantile(0.5, latency_bucket)", 120.0),
        0.1,
    );
}

#[test]
fn limits_refuse_and_count() {
    let limits = StoreLimits {
        max_series: 2,
        ..StoreLimits::default()
    };
    let mut store = SeriesStore::new(limits, std::time::Duration::ZERO);
    let report = store.ingest_metrics(&request(60, 1.0, 1.0), 0);
    // The counter and the gauge fit; the histogram point (5 samples) is refused once.
    assert_eq!(report.stored, 2);
    assert_eq!(report.refused, 1);
    assert_eq!(store.counters().series_limit_hits, 1);
    let limits = StoreLimits {
        max_samples: 3,
        ..StoreLimits::default()
    };
    let mut store = SeriesStore::new(limits, std::time::Duration::ZERO);
    for at in [60, 90] {
        store.ingest_metrics(&request(at, 1.0, 1.0), 0);
    }
    assert_eq!(store.sample_count(), 3);
    assert_eq!(store.counters().sample_limit_hits, 11);
}

#[test]
fn eviction_keeps_the_window() {
    let mut store = SeriesStore::new(StoreLimits::default(), std::time::Duration::from_secs(60));
    for at in [0u64, 100, 200, 300, 400] {
        store.ingest_metrics(&request(at, 1.0, 1.0), 0);
    }
    assert_eq!(store.sample_count(), 35);
    // The window is 60 s + 5 m: at 400 s samples before 40 s go.
    store.evict(400_000);
    assert_eq!(store.sample_count(), 28);
    store.evict(10_000_000);
    assert_eq!((store.sample_count(), store.series_count()), (0, 0));
    assert!(store.memory_bytes() < 4096);
}
