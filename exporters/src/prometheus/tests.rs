use std::time::Duration;

use sentinel_pipeline::config::Endpoint;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::testing::component_counts;
use sentinel_pipeline::SelfMetrics;

use super::*;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> Payload {
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "shop"),
                    kv("service.instance.id", "pod-1"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn point(value: i64, route: &str) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![kv("http.route", route)],
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    }
}

fn delta_sum(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: "Requests served".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn config(expiration: Duration, max_series: usize) -> PrometheusConfig {
    PrometheusConfig {
        endpoint: Endpoint::new("127.0.0.1:0").unwrap(),
        namespace: Some("app".into()),
        const_labels: [("region".to_string(), "eu".to_string())].into(),
        metric_expiration: expiration,
        resource_to_telemetry_conversion: ResourceConversion::default(),
        max_series,
        sending_queue: Default::default(),
        retry_on_failure: Default::default(),
        tls: None,
        auth: None,
        connections: Default::default(),
    }
}

fn exporter(
    expiration: Duration,
    max_series: usize,
) -> (PrometheusExporter, std::sync::Arc<SelfMetrics>) {
    let metrics = SelfMetrics::new();
    let handle = metrics.component(Kind::Exporter, "prometheus", Signal::Metrics);
    (
        PrometheusExporter::new(&config(expiration, max_series), handle),
        metrics,
    )
}

#[tokio::test]
async fn delta_sums_become_cumulative_counters() {
    let (exporter, _) = exporter(Duration::from_secs(300), 100);
    exporter
        .export(request(vec![delta_sum(
            "http.requests",
            vec![point(3, "/a")],
        )]))
        .await
        .unwrap();
    exporter
        .export(request(vec![delta_sum(
            "http.requests",
            vec![point(4, "/a"), point(1, "/b")],
        )]))
        .await
        .unwrap();
    let text = exporter.render();
    assert!(
        text.contains("# HELP app_http_requests_total Requests served\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE app_http_requests_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("app_http_requests_total{http_route=\"/a\",instance=\"pod-1\",job=\"shop\",region=\"eu\"} 7\n"),
        "{text}"
    );
    assert!(
        text.contains("http_route=\"/b\",instance=\"pod-1\",job=\"shop\",region=\"eu\"} 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn gauges_and_histograms() {
    let (exporter, _) = exporter(Duration::from_secs(300), 100);
    let gauge = Metric {
        name: "queue.depth".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![point(5, "/q")],
        })),
        ..Default::default()
    };
    let histogram = |counts: Vec<u64>| Metric {
        name: "latency".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                count: counts.iter().sum(),
                sum: Some(10.0),
                bucket_counts: counts,
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Default::default()
    };
    exporter
        .export(request(vec![gauge, histogram(vec![1, 2, 3])]))
        .await
        .unwrap();
    exporter
        .export(request(vec![histogram(vec![1, 0, 0])]))
        .await
        .unwrap();
    let text = exporter.render();
    assert!(text.contains("# TYPE app_queue_depth gauge\n"), "{text}");
    assert!(text.contains(
        "app_queue_depth{http_route=\"/q\",instance=\"pod-1\",job=\"shop\",region=\"eu\"} 5\n"
    ));
    assert!(text.contains("# TYPE app_latency histogram\n"));
    assert!(
        text.contains(
            "app_latency_bucket{instance=\"pod-1\",job=\"shop\",region=\"eu\",le=\"0.1\"} 2\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "app_latency_bucket{instance=\"pod-1\",job=\"shop\",region=\"eu\",le=\"1\"} 4\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "app_latency_bucket{instance=\"pod-1\",job=\"shop\",region=\"eu\",le=\"+Inf\"} 7\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("app_latency_count{instance=\"pod-1\",job=\"shop\",region=\"eu\"} 7\n"),
        "{text}"
    );
    assert!(
        text.contains("app_latency_sum{instance=\"pod-1\",job=\"shop\",region=\"eu\"} 20\n"),
        "{text}"
    );
}

#[tokio::test]
async fn stale_series_expire() {
    let (exporter, _) = exporter(Duration::from_millis(50), 100);
    exporter
        .export(request(vec![delta_sum("old", vec![point(1, "/")])]))
        .await
        .unwrap();
    assert!(exporter.render().contains("app_old_total"));
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(
        !exporter.render().contains("app_old_total"),
        "expired after metric_expiration"
    );
}

#[tokio::test]
async fn the_series_cap_drops_and_counts() {
    let (exporter, metrics) = exporter(Duration::from_secs(300), 2);
    let points = (0..5).map(|i| point(1, &format!("/{i}"))).collect();
    exporter
        .export(request(vec![delta_sum("many", points)]))
        .await
        .unwrap();
    assert_eq!(exporter.render().matches("app_many_total{").count(), 2);
    let counts = component_counts(&metrics, Kind::Exporter, "prometheus", Signal::Metrics);
    assert_eq!(counts.dropped, 3);
}

#[tokio::test]
async fn scraped_over_http() {
    let metrics = SelfMetrics::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = {
        use sentinel_pipeline::config::{NodeValue, Span};
        let s = |t: String| Node::new(NodeValue::String(t), Span::unknown());
        Node::new(
            NodeValue::Map(vec![(s("endpoint".into()), s(format!("127.0.0.1:{port}")))]),
            Span::unknown(),
        )
    };
    let shutdown = CancellationToken::new();
    let built = PrometheusFactory
        .build(
            &node,
            BuildContext {
                id: "prometheus".into(),
                metrics,
                shutdown: shutdown.clone(),
                data_dir: std::env::temp_dir(),
            },
        )
        .unwrap();
    built
        .exporter
        .export(request(vec![delta_sum("scraped", vec![point(2, "/")])]))
        .await
        .unwrap();
    let body = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    })
    .await
    .unwrap();
    assert!(body.starts_with("HTTP/1.0 200"), "{body}");
    assert!(
        body.contains("scraped_total{http_route=\"/\",instance=\"pod-1\",job=\"shop\"} 2"),
        "{body}"
    );
    shutdown.cancel();
}
