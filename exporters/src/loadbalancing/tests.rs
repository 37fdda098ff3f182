use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{metric, Gauge, Metric, NumberDataPoint};
use sentinel_pipeline::otlp::metrics::v1::{ResourceMetrics, ScopeMetrics};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::visit;
use sentinel_pipeline::{ExportError, Exporter, Payload, QueueRecord, RecordBatch, SelfMetrics};

use super::config::RoutingKey;
use super::members::Members;
use super::split::split;
use super::stats::LbStats;
use super::{ledger::Ledger, LoadBalancingExporter};
use crate::otlp::compliance::CountingServer;
use crate::otlp::OtlpConfig;

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// `services` resources, each holding one span of each of `traces` traces.
fn interleaved(services: usize, traces: u8) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: (0..services)
            .map(|s| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![attribute("service.name", &format!("svc-{s}"))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: (0..traces)
                        .map(|t| Span {
                            trace_id: vec![t + 1; 16],
                            span_id: vec![s as u8 + 1; 8],
                            name: format!("s{s}-t{t}"),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn spans(payload: &Payload) -> Vec<(String, Vec<u8>, String)> {
    let Payload::Traces(request) = payload else {
        panic!("not traces")
    };
    visit::items(request)
        .map(|(resource, _, span)| {
            let service = resource.unwrap().attributes[0].clone();
            let Some(any_value::Value::StringValue(service)) = service.value.unwrap().value else {
                panic!()
            };
            (service, span.trace_id.clone(), span.name.clone())
        })
        .collect()
}

#[test]
fn a_request_is_split_per_trace_keeping_resources() {
    let parts = split(Payload::Traces(interleaved(2, 3)), RoutingKey::TraceId, 0);
    assert_eq!(parts.len(), 3);
    let mut seen = HashSet::new();
    for (_, part) in &parts {
        let spans = spans(part);
        assert_eq!(spans.len(), 2, "one span per service");
        let traces: HashSet<_> = spans.iter().map(|s| s.1.clone()).collect();
        assert_eq!(traces.len(), 1, "{spans:?}");
        for (service, trace, name) in spans {
            // The span kept its own resource.
            assert!(
                name.starts_with(&format!("s{}-", &service[4..])),
                "{name} under {service}"
            );
            assert!(seen.insert((trace, name)));
        }
    }
    assert_eq!(seen.len(), 6);
    // Routing by service: one part per resource, whatever the traces.
    let parts = split(Payload::Traces(interleaved(2, 3)), RoutingKey::Service, 0);
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|(_, p)| p.item_count() == 3));
}

#[test]
fn stream_routing_splits_a_metric_by_point_attributes() {
    let point = |host: &str, value: f64| NumberDataPoint {
        attributes: vec![attribute("host", host)],
        value: Some(
            sentinel_pipeline::otlp::metrics::v1::number_data_point::Value::AsDouble(value),
        ),
        ..Default::default()
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "load".into(),
                    unit: "1".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![point("a", 1.0), point("b", 2.0), point("a", 3.0)],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let parts = split(Payload::Metrics(request.clone()), RoutingKey::StreamId, 0);
    assert_eq!(parts.len(), 2);
    let counts: Vec<usize> = parts.iter().map(|(_, p)| p.item_count()).collect();
    assert_eq!(counts, vec![2, 1]);
    for (_, part) in &parts {
        let Payload::Metrics(m) = part else { panic!() };
        let metric = &m.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!((metric.name.as_str(), metric.unit.as_str()), ("load", "1"));
    }
    // By metric name: one part.
    assert_eq!(
        split(Payload::Metrics(request), RoutingKey::Metric, 0).len(),
        1
    );
}

fn exporter(members: Arc<Members>, stats: LbStats) -> LoadBalancingExporter {
    LoadBalancingExporter {
        members,
        routing_key: None,
        load_factor: 0.0,
        first_wait: std::time::Duration::ZERO,
        ledger: Ledger::default(),
        stats,
        warned_keys: Default::default(),
    }
}

fn template() -> OtlpConfig {
    let mut config: OtlpConfig = serde_json::from_str(r#"{"endpoint": ""}"#).unwrap();
    config.tls.insecure = true;
    config.timeout = std::time::Duration::from_secs(2);
    config
}

/// A backend that fails part of a batch: the retry, after it left, sends only what it
/// did not take to the backend that remains, so every span arrives exactly once.
#[tokio::test]
async fn a_retry_after_a_backend_left_sends_each_part_once() {
    let items = Arc::new(AtomicU64::new(0));
    let up = CountingServer {
        items: items.clone(),
    }
    .start()
    .await;
    // A port with nothing listening: its parts fail (retryable).
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stats = LbStats::new("loadbalancing", &SelfMetrics::new());
    let members = Arc::new(Members::new(template(), stats.clone()));
    members
        .update(vec![up.to_string(), down.to_string()])
        .unwrap();
    let lb = exporter(members.clone(), stats.clone());
    let batch = || RecordBatch {
        queue_id: 9,
        records: vec![
            QueueRecord {
                seq: 1,
                payload: Payload::Traces(interleaved(2, 40)),
            },
            QueueRecord {
                seq: 2,
                payload: Payload::Traces(interleaved(1, 40)),
            },
        ],
    };
    let first = lb.export_records(batch()).await;
    assert!(
        matches!(first, Err(ExportError::Retryable { .. })),
        "{first:?}"
    );
    let delivered_first = items.load(Ordering::SeqCst);
    assert!(
        delivered_first > 0 && delivered_first < 120,
        "{delivered_first}"
    );
    // The failing backend leaves; the queue retries the same records.
    assert!(members.update(vec![up.to_string()]).unwrap());
    lb.export_records(batch()).await.unwrap();
    assert_eq!(items.load(Ordering::SeqCst), 120, "every span exactly once");
    assert_eq!(stats.skipped_items.get(), delivered_first);
    assert_eq!(lb.ledger.len(), 0, "settled records are forgotten");
    assert_eq!(stats.backends.get(), 1);
    assert_eq!(stats.backend_updates.get(), 2);
}

#[tokio::test]
async fn no_backends_is_retryable() {
    let stats = LbStats::new("loadbalancing", &SelfMetrics::new());
    let members = Arc::new(Members::new(template(), stats.clone()));
    let lb = exporter(members, stats);
    let result = lb.export(Payload::Traces(interleaved(1, 1))).await;
    assert!(
        matches!(result, Err(ExportError::Retryable { .. })),
        "{result:?}"
    );
}

#[test]
fn config_rejects_what_would_mislead() {
    use sentinel_pipeline::config::{decode_valid, parse_yaml};
    let check = |yaml: &str| {
        let node = parse_yaml("test.yaml", yaml).unwrap().unwrap();
        decode_valid::<super::LoadBalancingConfig>(&node).map(|_| ())
    };
    let ok =
        "protocol: {otlp: {tls: {insecure: true}}}\nresolver: {static: {hostnames: [a:4317]}}\n";
    check(ok).unwrap();
    for bad in [
        "protocol: {otlp: {endpoint: a:1}}\nresolver: {static: {hostnames: [a]}}\n",
        "protocol: {otlp: {sending_queue: {queue_size: 5}}}\nresolver: {static: {hostnames: [a]}}\n",
        "protocol: {otlp: {}}\nresolver: {}\n",
        "protocol: {otlp: {}}\nresolver: {static: {hostnames: [a]}, dns: {hostname: b}}\n",
        "protocol: {otlp: {}}\nresolver: {dns: {hostname: b, nameserver: nope}}\n",
        "protocol: {otlp: {}}\nresolver: {static: {hostnames: [a]}}\nrouting_key: trace\n",
        "protocol: {otlp: {}}\nresolver: {static: {hostnames: [a]}}\nload_factor: 0.5\n",
    ] {
        assert!(check(bad).is_err(), "accepted: {bad}");
    }
}
