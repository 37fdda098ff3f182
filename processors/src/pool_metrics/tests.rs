use sentinel_pipeline::config::{Node, Span};
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::metrics::v1::{
    metric::Data, number_data_point::Value, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use sentinel_pipeline::testing::component_counts;
use sentinel_pipeline::SelfMetrics;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::test_data::kv;

fn sum(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: false,
        })),
        ..Default::default()
    }
}

fn int_point(value: i64, attributes: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes.iter().map(|(k, v)| kv(k, v)).collect(),
        value: Some(Value::AsInt(value)),
        ..Default::default()
    }
}

fn keys(metric: &Metric) -> Vec<Vec<String>> {
    let Some(Data::Sum(s)) = &metric.data else {
        panic!("a sum")
    };
    s.data_points
        .iter()
        .map(|p| p.attributes.iter().map(|kv| kv.key.clone()).collect())
        .collect()
}

fn build(metrics: &std::sync::Arc<SelfMetrics>) -> Box<dyn Processor> {
    let ctx = BuildContext {
        id: "pool_metrics".into(),
        metrics: metrics.clone(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    PoolMetricsFactory
        .build(&Node::empty_map(Span::unknown()), Signal::Metrics, ctx)
        .unwrap()
        .stage
}

fn run(metrics: Vec<Metric>) -> Vec<Metric> {
    let self_metrics = SelfMetrics::new();
    let mut processor = build(&self_metrics);
    let payload = Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut out = Vec::new();
    processor.process(Message::unacked(payload), &mut out);
    assert_eq!(out.len(), 1);
    let Payload::Metrics(mut request) = out.remove(0).payload else {
        panic!("metrics")
    };
    std::mem::take(&mut request.resource_metrics[0].scope_metrics[0].metrics)
}

#[test]
fn deprecated_usage_becomes_connection_count_with_current_attributes() {
    let out = run(vec![sum(
        "db.client.connections.usage",
        "{connection}",
        vec![
            int_point(3, &[("pool.name", "orders"), ("state", "used")]),
            int_point(5, &[("pool.name", "orders"), ("state", "idle")]),
        ],
    )]);
    assert_eq!(out[0].name, "db.client.connection.count");
    assert_eq!(out[0].unit, "{connection}");
    assert_eq!(
        keys(&out[0]),
        vec![
            vec![
                "db.client.connection.pool.name",
                "db.client.connection.state"
            ],
            vec![
                "db.client.connection.pool.name",
                "db.client.connection.state"
            ],
        ]
    );
    let Some(Data::Sum(s)) = &out[0].data else {
        panic!()
    };
    assert_eq!(s.data_points[1].value, Some(Value::AsInt(5)), "values kept");
    assert_eq!(
        format!("{:?}", s.data_points[1].attributes[1].value),
        format!("{:?}", kv("x", "idle").value)
    );
}

#[test]
fn every_deprecated_name_maps_to_its_current_name() {
    for (old, new, _) in normalise::RENAMES {
        let out = run(vec![sum(old, "{connection}", vec![int_point(1, &[])])]);
        assert_eq!(out[0].name, new);
        assert!(!new.contains("connections"), "{new}");
    }
}

#[test]
fn wait_time_histogram_in_ms_moves_to_seconds() {
    let histogram = Metric {
        name: "db.client.connections.wait_time".into(),
        unit: "ms".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("pool.name", "p")],
                count: 4,
                sum: Some(250.0),
                min: Some(5.0),
                max: Some(120.0),
                bucket_counts: vec![1, 2, 1],
                explicit_bounds: vec![10.0, 100.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let timeouts_in_ms = sum(
        "db.client.connections.use_time",
        "ms",
        vec![int_point(1500, &[])],
    );
    let out = run(vec![histogram, timeouts_in_ms]);
    assert_eq!(out[0].name, "db.client.connection.wait_time");
    assert_eq!(out[0].unit, "s");
    let Some(Data::Histogram(h)) = &out[0].data else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!(p.sum, Some(0.25));
    assert_eq!((p.min, p.max), (Some(0.005), Some(0.12)));
    assert_eq!(p.explicit_bounds, vec![0.01, 0.1]);
    assert_eq!((p.count, &p.bucket_counts), (4, &vec![1, 2, 1]));
    assert_eq!(p.attributes[0].key, "db.client.connection.pool.name");
    let Some(Data::Sum(s)) = &out[1].data else {
        panic!()
    };
    assert_eq!(out[1].unit, "s");
    assert_eq!(s.data_points[0].value, Some(Value::AsDouble(1.5)));
}

#[test]
fn current_names_stay_and_mixed_attributes_keep_the_current_key() {
    let out = run(vec![
        sum(
            "db.client.connection.count",
            "{connection}",
            vec![int_point(
                2,
                &[
                    ("pool.name", "old"),
                    ("db.client.connection.pool.name", "new"),
                    ("db.client.connection.state", "used"),
                ],
            )],
        ),
        // `state` on an unrelated metric is somebody else's attribute.
        sum(
            "http.server.active_requests",
            "{request}",
            vec![int_point(1, &[("state", "x")])],
        ),
    ]);
    assert_eq!(out[0].name, "db.client.connection.count");
    assert_eq!(
        keys(&out[0]),
        vec![vec![
            "db.client.connection.pool.name",
            "db.client.connection.state"
        ]]
    );
    let Some(Data::Sum(s)) = &out[0].data else {
        panic!()
    };
    assert_eq!(
        format!("{:?}", s.data_points[0].attributes[0].value),
        format!("{:?}", kv("x", "new").value)
    );
    assert_eq!(out[1].name, "http.server.active_requests");
    assert_eq!(keys(&out[1]), vec![vec!["state"]]);
}

#[test]
fn exponential_histograms_in_ms_pass_unchanged_and_nothing_is_dropped() {
    let self_metrics = SelfMetrics::new();
    let mut processor = build(&self_metrics);
    let metric = Metric {
        name: "db.client.connections.create_time".into(),
        unit: "ms".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                count: 1,
                sum: Some(12.0),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let payload = Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric.clone()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut out = Vec::new();
    processor.process(Message::unacked(payload), &mut out);
    let Payload::Metrics(request) = &out[0].payload else {
        panic!()
    };
    assert_eq!(
        request.resource_metrics[0].scope_metrics[0].metrics[0],
        metric
    );
    let counts = component_counts(
        &self_metrics,
        Kind::Processor,
        "pool_metrics",
        Signal::Metrics,
    );
    assert_eq!((counts.dropped, counts.failed, counts.refused), (0, 0, 0));
}
