use std::net::SocketAddr;

use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::metric;
use sentinel_pipeline::testing::{sample, ExporterCompliance};
use sentinel_pipeline::{Payload, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::PrometheusFactory;
use crate::sending::compliance::start_for_compliance;

/// [`sample`] with every gauge point in a series of its own: Prometheus keeps one value
/// per series, and `sample` repeats its series in every request.
fn one_series_per_point(signal: Signal, items: usize, seed: u64) -> Payload {
    let mut payload = sample(signal, items, seed);
    if let Payload::Metrics(request) = &mut payload {
        let metrics = request
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics);
        for metric in metrics {
            if let Some(metric::Data::Gauge(gauge)) = &mut metric.data {
                for point in &mut gauge.data_points {
                    point.attributes.push(KeyValue {
                        key: "sample.seed".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(seed.to_string())),
                        }),
                        ..Default::default()
                    });
                }
            }
        }
    }
    payload
}

/// The series lines of one scrape of `/metrics` (comments and blank lines left out).
async fn scraped_series(addr: SocketAddr) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: compliance\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("an HTTP response with a body");
    assert!(head.starts_with("HTTP/1.1 200"), "scrape failed: {head}");
    body.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .count() as u64
}

#[tokio::test]
async fn prometheus_meets_the_exporter_contract() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap();
    let config = format!("endpoint: {addr}\n");
    ExporterCompliance::new(
        &PrometheusFactory,
        &config,
        Signal::Metrics,
        start_for_compliance,
    )
    .samples(one_series_per_point)
    .delivered_items(Box::new(move || Box::pin(scraped_series(addr))))
    .run()
    .await;
}
