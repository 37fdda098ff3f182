use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::metrics::v1::{
    metric::Data, number_data_point::Value, AggregationTemporality, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::PoolMetricsFactory;
use crate::test_data::kv;

fn usage(pool: &str) -> Metric {
    let point = |value, state| NumberDataPoint {
        attributes: vec![kv("pool.name", pool), kv("state", state)],
        value: Some(Value::AsInt(value)),
        ..Default::default()
    };
    Metric {
        name: "db.client.connections.usage".into(),
        unit: "{connection}".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![point(3, "used"), point(5, "idle")],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: false,
        })),
        ..Default::default()
    }
}

fn wait_time(pool: &str) -> Metric {
    Metric {
        name: "db.client.connections.wait_time".into(),
        unit: "ms".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("pool.name", pool)],
                count: 2,
                sum: Some(30.0),
                bucket_counts: vec![1, 1, 0],
                explicit_bounds: vec![10.0, 100.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

/// An application metric that is not about pools: left alone, `state` included.
fn unrelated() -> Metric {
    Metric {
        name: "http.server.active_requests".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes: vec![kv("state", "busy")],
                value: Some(Value::AsInt(1)),
                ..Default::default()
            }],
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn request(pool: &str) -> Payload {
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![usage(pool), wait_time(pool), unrelated()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn attribute_keys(metric: &Metric) -> Vec<Vec<String>> {
    let keys = |attributes: &[sentinel_pipeline::otlp::common::v1::KeyValue]| {
        attributes.iter().map(|kv| kv.key.clone()).collect()
    };
    match &metric.data {
        Some(Data::Sum(s)) => s.data_points.iter().map(|p| keys(&p.attributes)).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| keys(&p.attributes)).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn pool_metrics_meets_the_processor_contract_and_renames_deprecated_metrics() {
    let report = ProcessorCompliance::new(&PoolMetricsFactory, "", Signal::Metrics)
        .input(vec![request("orders"), request("billing")])
        // Per request: 2 usage points, 1 wait_time point, 1 unrelated point.
        .expect_sent(8)
        .run()
        .await;
    assert_eq!(report.delivered.len(), 2);
    for payload in &report.delivered {
        let Payload::Metrics(req) = payload else {
            panic!("metrics")
        };
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let names: Vec<(&str, &str)> = metrics
            .iter()
            .map(|m| (m.name.as_str(), m.unit.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("db.client.connection.count", "{connection}"),
                ("db.client.connection.wait_time", "s"),
                ("http.server.active_requests", ""),
            ]
        );
        let current = [
            "db.client.connection.pool.name",
            "db.client.connection.state",
        ];
        assert_eq!(attribute_keys(&metrics[0]), [current, current]);
        assert_eq!(
            attribute_keys(&metrics[1]),
            [["db.client.connection.pool.name"]]
        );
        assert_eq!(attribute_keys(&metrics[2]), [["state"]]);
        let Some(Data::Histogram(wait)) = &metrics[1].data else {
            panic!("a histogram")
        };
        assert_eq!(wait.data_points[0].sum, Some(0.03), "ms became s");
        assert_eq!(wait.data_points[0].explicit_bounds, [0.01, 0.1]);
    }
}
