use std::mem::size_of;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sentinel_pipeline::Signal;

use super::{prescan, prescan_json, Limits, Violation};

const LIMITS: Limits = Limits {
    max_items: 1000,
    max_attributes: 50,
    max_depth: 8,
};

fn attribute(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn string(text: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    }
}

/// A value nested `levels` deep: arrays of arrays around a string.
fn nested(levels: usize) -> AnyValue {
    let mut value = string("leaf");
    for _ in 1..levels {
        value = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    value
}

fn traces(spans: usize, attributes: Vec<KeyValue>) -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "op".into(),
        attributes,
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span; spans],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn both(request: &ExportTraceServiceRequest) -> [Result<super::Shape, Violation>; 2] {
    let protobuf = request.encode_to_vec();
    let json = serde_json::to_vec(request).unwrap();
    [
        prescan(Signal::Traces, &protobuf, &LIMITS),
        prescan_json(Signal::Traces, &json, &LIMITS),
    ]
}

#[test]
fn counts_items_and_estimates_at_least_the_structs() {
    let request = traces(300, vec![attribute("a", string("b")); 3]);
    for shape in both(&request) {
        let shape = shape.unwrap();
        assert_eq!(shape.items, 300);
        let floor = 300 * (size_of::<Span>() + 3 * size_of::<KeyValue>());
        assert!(
            shape.decoded_bytes >= floor,
            "{} < {floor}",
            shape.decoded_bytes
        );
    }
}

#[test]
fn empty_spans_are_counted_and_refused_past_the_item_limit() {
    // The probe's shape: empty span messages, 2 bytes each on the wire.
    let mut body = Vec::new();
    let scope: Vec<u8> = std::iter::repeat_n([0x12u8, 0x00], 5000)
        .flatten()
        .collect();
    let mut resource = Vec::new();
    prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut resource);
    prost::encoding::encode_varint(scope.len() as u64, &mut resource);
    resource.extend_from_slice(&scope);
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut body);
    prost::encoding::encode_varint(resource.len() as u64, &mut body);
    body.extend_from_slice(&resource);
    let refused = prescan(Signal::Traces, &body, &LIMITS).unwrap_err();
    assert_eq!(
        refused,
        Violation::TooManyItems {
            what: "spans",
            limit: 1000
        }
    );
    let roomy = Limits {
        max_items: 10_000,
        ..LIMITS
    };
    let shape = prescan(Signal::Traces, &body, &roomy).unwrap();
    assert_eq!(shape.items, 5000);
    assert!(shape.decoded_bytes >= 5000 * size_of::<Span>());
    // And prost agrees on the count.
    let decoded = ExportTraceServiceRequest::decode(&body[..]).unwrap();
    assert_eq!(decoded.resource_spans[0].scope_spans[0].spans.len(), 5000);
}

#[test]
fn too_many_attributes_in_one_list_are_refused() {
    let within = traces(1, vec![attribute("k", string("v")); 50]);
    let over = traces(1, vec![attribute("k", string("v")); 51]);
    for shape in both(&within) {
        assert!(shape.is_ok());
    }
    for refused in both(&over) {
        assert_eq!(refused, Err(Violation::TooManyAttributes { limit: 50 }));
    }
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_in_protobuf_and_json() {
    let within = traces(1, vec![attribute("deep", nested(8))]);
    let over = traces(1, vec![attribute("deep", nested(9))]);
    for shape in both(&within) {
        assert!(shape.is_ok(), "{shape:?}");
    }
    for refused in both(&over) {
        assert_eq!(refused, Err(Violation::TooDeep { limit: 8 }));
    }
}

#[test]
fn metrics_and_logs_count_points_and_records() {
    let point = NumberDataPoint {
        attributes: vec![attribute("a", string("b"))],
        ..Default::default()
    };
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "m".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![point; 7],
                        })),
                        ..Default::default()
                    };
                    3
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        body: Some(nested(3)),
                        ..Default::default()
                    };
                    11
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let cases = [
        (
            Signal::Metrics,
            metrics.encode_to_vec(),
            serde_json::to_vec(&metrics).unwrap(),
            21,
        ),
        (
            Signal::Logs,
            logs.encode_to_vec(),
            serde_json::to_vec(&logs).unwrap(),
            11,
        ),
    ];
    for (signal, protobuf, json, items) in cases {
        assert_eq!(prescan(signal, &protobuf, &LIMITS).unwrap().items, items);
        assert_eq!(prescan_json(signal, &json, &LIMITS).unwrap().items, items);
    }
}

#[test]
fn truncated_protobuf_is_malformed() {
    let body = traces(2, Vec::new()).encode_to_vec();
    let cut = &body[..body.len() - 3];
    assert!(matches!(
        prescan(Signal::Traces, cut, &LIMITS),
        Err(Violation::Malformed(_))
    ));
}

#[test]
fn the_limits_only_walk_checks_the_same_limits_and_verifies_nothing() {
    let request = traces(300, vec![attribute("a", string("b")); 3]);
    let bytes = request.encode_to_vec();
    let full = prescan(Signal::Traces, &bytes, &LIMITS).unwrap();
    let limits_only = super::prescan_limits(Signal::Traces, &bytes, &LIMITS).unwrap();
    assert_eq!(
        (limits_only.items, limits_only.decoded_bytes),
        (full.items, full.decoded_bytes)
    );
    assert!(!limits_only.forwardable);
    let over = traces(LIMITS.max_items + 1, Vec::new()).encode_to_vec();
    assert!(matches!(
        super::prescan_limits(Signal::Traces, &over, &LIMITS),
        Err(Violation::TooManyItems { .. })
    ));
}
