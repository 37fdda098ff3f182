use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, Gauge, Metric, NumberDataPoint};
use opentelemetry_proto::tonic::trace::v1::Span;

use super::*;
use crate::testing::string_kv;
use crate::Signal;

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![string_kv("service.name", service)],
        ..Default::default()
    })
}

/// Every shape the top levels take: resources with and without a resource, a schema URL
/// or scopes; scopes with and without a scope, a schema URL or items; long items whose
/// length prefix takes several bytes.
fn traces() -> Payload {
    let span = |name: &str, attributes| Span {
        trace_id: vec![7; 16],
        span_id: vec![8; 8],
        name: name.into(),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes,
        ..Default::default()
    };
    let long = (0..300).map(|i| string_kv(&format!("k{i}"), "v")).collect();
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: resource("a"),
                scope_spans: vec![
                    ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "lib".into(),
                            version: "1".into(),
                            ..Default::default()
                        }),
                        spans: vec![span("one", vec![]), span("long", long)],
                        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                    },
                    ScopeSpans::default(),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            },
            ResourceSpans::default(),
            ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(), span("x", vec![])],
                    ..Default::default()
                }],
                schema_url: String::new(),
            },
        ],
    })
}

fn metrics() -> Payload {
    let gauge = Metric {
        name: "cpu".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![
                NumberDataPoint {
                    time_unix_nano: 5,
                    attributes: vec![string_kv("cpu", "0")],
                    ..Default::default()
                };
                3
            ],
        })),
        ..Default::default()
    };
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("m"),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope::default()),
                metrics: vec![gauge.clone(), Metric::default(), gauge],
                schema_url: "s".into(),
            }],
            schema_url: String::new(),
        }],
    })
}

fn logs() -> Payload {
    let record = LogRecord {
        time_unix_nano: 9,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue("x".repeat(20_000))),
        }),
        ..Default::default()
    };
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("l"),
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records: vec![record, LogRecord::default()],
                schema_url: String::new(),
            }],
            schema_url: "r".into(),
        }],
    })
}

fn encoded(payloads: &[Payload]) -> Vec<u8> {
    let data: Vec<Held> = payloads.iter().cloned().map(Held::Decoded).collect();
    let mut buf = Vec::new();
    encode_requests(data.iter(), &mut buf);
    buf
}

#[test]
fn the_bytes_are_prosts_for_every_signal() {
    for payload in [traces(), metrics(), logs()] {
        assert_eq!(
            encoded(std::slice::from_ref(&payload)),
            payload.encode_to_vec(),
            "{:?}",
            payload.signal()
        );
    }
}

#[test]
fn several_requests_encode_to_their_merge() {
    let payloads = [traces(), traces(), traces()];
    let mut merged = traces();
    for payload in &payloads[1..] {
        merged.append(payload.clone()).unwrap();
    }
    let bytes = encoded(&payloads);
    assert_eq!(bytes, merged.encode_to_vec());
    assert_eq!(Payload::decode(Signal::Traces, &bytes).unwrap(), merged);
}

#[test]
fn nothing_encodes_to_nothing() {
    assert!(encoded(&[Payload::empty(Signal::Logs)]).is_empty());
    assert!(encoded(&[]).is_empty());
}

#[test]
fn encoded_and_decoded_requests_merge_in_order() {
    let (first, second) = (traces(), traces());
    let received = super::super::Encoded::new(
        Signal::Traces,
        second.encode_to_vec().into(),
        second.item_count(),
    );
    let data = [Held::Decoded(first.clone()), Held::Encoded(received)];
    let mut buf = Vec::new();
    encode_requests(data.iter(), &mut buf);
    let mut merged = first;
    merged.append(second).unwrap();
    assert_eq!(buf, merged.encode_to_vec());
}
