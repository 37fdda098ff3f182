//! Requests as SDKs send them, every field set (struct literals without `..Default` so a
//! field added to opentelemetry-proto shows up here), and hand-written protobuf pieces.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

pub(super) const TRACE_ID: [u8; 16] = [0x5b; 16];
pub(super) const SPAN_ID: [u8; 8] = [0x7c; 8];

fn value(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

fn text(s: &str) -> AnyValue {
    value(Value::StringValue(s.into()))
}

pub(super) fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        key_strindex: 0,
    }
}

/// Every kind of value, arrays and key-value lists nested in each other.
pub(super) fn attributes() -> Vec<KeyValue> {
    let inner = KeyValueList {
        values: vec![
            kv("deep.string", text("deep value")),
            kv("deep.bytes", value(Value::BytesValue(vec![0, 0xff, 0x80]))),
        ],
    };
    let array = ArrayValue {
        values: vec![
            text("élément"),
            value(Value::IntValue(-42)),
            value(Value::KvlistValue(inner)),
            value(Value::ArrayValue(ArrayValue {
                values: vec![value(Value::BoolValue(true)), text("")],
            })),
        ],
    };
    vec![
        kv("service.name", text("checkout")),
        kv("int", value(Value::IntValue(i64::MIN))),
        kv("double", value(Value::DoubleValue(-0.5))),
        kv("bool", value(Value::BoolValue(false))),
        kv("bytes", value(Value::BytesValue(b"\x00\x01".to_vec()))),
        kv("strindex", value(Value::StringValueStrindex(-3))),
        kv("array", value(Value::ArrayValue(array))),
        KeyValue {
            key: String::new(),
            value: None,
            key_strindex: 7,
        },
    ]
}

fn resource() -> Resource {
    Resource {
        attributes: attributes(),
        dropped_attributes_count: 3,
        entity_refs: vec![EntityRef {
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into(), "service.namespace".into()],
            description_keys: vec!["service.version".into()],
        }],
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        attributes: vec![kv("scope.attr", text("x"))],
        dropped_attributes_count: 1,
    }
}

pub(super) fn span() -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        trace_state: "rojo=00f067aa0ba902b7".into(),
        parent_span_id: vec![0x11; 8],
        flags: 0x301,
        name: "GET /cart".into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        attributes: attributes(),
        dropped_attributes_count: 4,
        events: vec![Event {
            time_unix_nano: 1_700_000_000_100_000_000,
            name: "exception".into(),
            attributes: vec![kv("exception.message", text("boom ✗"))],
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 5,
        links: vec![Link {
            trace_id: vec![0x22; 16],
            span_id: vec![0x33; 8],
            trace_state: "congo=t61rcWkgMzE".into(),
            attributes: vec![kv("link.kind", text("follows"))],
            dropped_attributes_count: 6,
            flags: 0x100,
        }],
        dropped_links_count: 7,
        status: Some(Status {
            message: "upstream timed out".into(),
            code: 2,
        }),
    }
}

pub(super) fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
        }],
    }
}

pub(super) fn rich_traces() -> ExportTraceServiceRequest {
    let mut root = span();
    root.parent_span_id = Vec::new();
    root.span_id = vec![0x44; 8];
    traces(vec![span(), root])
}

fn exemplars() -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: vec![kv("exemplar.attr", text("e"))],
            time_unix_nano: 1_700_000_000_000_000_001,
            span_id: SPAN_ID.to_vec(),
            trace_id: TRACE_ID.to_vec(),
            value: Some(exemplar::Value::AsDouble(1.5)),
        },
        Exemplar {
            filtered_attributes: Vec::new(),
            time_unix_nano: 2,
            span_id: Vec::new(),
            trace_id: Vec::new(),
            value: Some(exemplar::Value::AsInt(-9)),
        },
    ]
}

fn number_points() -> Vec<NumberDataPoint> {
    let point = |value| NumberDataPoint {
        attributes: vec![kv("state", text("idle"))],
        start_time_unix_nano: 10,
        time_unix_nano: 20,
        exemplars: exemplars(),
        flags: 1,
        value: Some(value),
    };
    vec![
        point(number_data_point::Value::AsDouble(0.25)),
        point(number_data_point::Value::AsInt(-17)),
    ]
}

fn histogram_point() -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: vec![kv("http.route", text("/cart"))],
        start_time_unix_nano: 10,
        time_unix_nano: 20,
        count: 9,
        sum: Some(123.5),
        bucket_counts: vec![1, 0, 5, 3],
        explicit_bounds: vec![0.5, 1.0, 2.5],
        exemplars: exemplars(),
        flags: 0,
        min: Some(0.1),
        max: Some(7.0),
    }
}

fn exponential_point() -> ExponentialHistogramDataPoint {
    ExponentialHistogramDataPoint {
        attributes: vec![kv("a", text("b"))],
        start_time_unix_nano: 10,
        time_unix_nano: 20,
        count: 12,
        sum: Some(40.0),
        scale: -3,
        zero_count: 2,
        positive: Some(Buckets {
            offset: -2,
            bucket_counts: vec![1, 300, 0, u64::MAX],
        }),
        negative: Some(Buckets {
            offset: 5,
            bucket_counts: vec![4],
        }),
        flags: 1,
        exemplars: exemplars(),
        min: Some(-3.0),
        max: Some(9.0),
        zero_threshold: 1e-9,
    }
}

fn summary_point() -> SummaryDataPoint {
    SummaryDataPoint {
        attributes: vec![kv("q", text("r"))],
        start_time_unix_nano: 10,
        time_unix_nano: 20,
        count: 100,
        sum: 2500.0,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.5,
                value: 20.0,
            },
            ValueAtQuantile {
                quantile: 0.99,
                value: 95.0,
            },
        ],
        flags: 0,
    }
}

pub(super) fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: "what it measures".into(),
        unit: "ms".into(),
        metadata: vec![kv("meta", text("data"))],
        data: Some(data),
    }
}

pub(super) fn rich_metrics() -> ExportMetricsServiceRequest {
    let metrics = vec![
        metric(
            "gauge",
            Data::Gauge(Gauge {
                data_points: number_points(),
            }),
        ),
        metric(
            "sum",
            Data::Sum(Sum {
                data_points: number_points(),
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "histogram",
            Data::Histogram(Histogram {
                data_points: vec![histogram_point()],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "exponential",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![exponential_point()],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "summary",
            Data::Summary(Summary {
                data_points: vec![summary_point()],
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub(super) fn log_record() -> LogRecord {
    LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        observed_time_unix_nano: 1_700_000_000_000_000_100,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(value(Value::KvlistValue(KeyValueList {
            values: vec![
                kv("msg", text("disk full")),
                kv(
                    "nested",
                    value(Value::ArrayValue(ArrayValue {
                        values: vec![text("x")],
                    })),
                ),
            ],
        }))),
        attributes: attributes(),
        dropped_attributes_count: 1,
        flags: 1,
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        event_name: "device.app.lifecycle".into(),
    }
}

pub(super) fn logs(log_records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
        }],
    }
}

pub(super) fn rich_logs() -> ExportLogsServiceRequest {
    let mut bare = log_record();
    // Ids are optional on log records.
    bare.trace_id = Vec::new();
    bare.span_id = Vec::new();
    bare.body = Some(text("plain"));
    logs(vec![log_record(), bare])
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A field's key and, for wire type 2, its length, then `payload`.
pub(super) fn field(number: u64, wire_type: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, (number << 3) | wire_type);
    if wire_type == 2 {
        put_varint(&mut out, payload.len() as u64);
    }
    out.extend_from_slice(payload);
    out
}

/// `inner` as the body of the message reached by the field numbers of `path` from the
/// request; the message entered by `path[span_at]` starts with valid span ids.
pub(super) fn nest(path: &[u64], span_at: Option<usize>, inner: Vec<u8>) -> Vec<u8> {
    let mut body = inner;
    for (i, &number) in path.iter().enumerate().rev() {
        if Some(i) == span_at {
            body = [span_ids(), body].concat();
        }
        body = field(number, 2, &body);
    }
    body
}

/// A valid trace_id and span_id, as fields of a span.
pub(super) fn span_ids() -> Vec<u8> {
    [field(1, 2, &TRACE_ID), field(2, 2, &SPAN_ID)].concat()
}
