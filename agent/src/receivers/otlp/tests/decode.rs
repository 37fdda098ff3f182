//! OTLP/JSON decoding (the spec's examples and the protobuf-JSON variants it allows) and
//! the partial-success rules. (Decompression limits are tested with
//! `sentinel_pipeline::http`.)

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::{Payload, Signal};

use super::super::decode::decode_json;

/// `examples/trace.json` of opentelemetry-proto: uppercase hex ids, integer enum, 64-bit
/// times as JSON numbers.
pub const SPEC_TRACE_JSON: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": 1544712660000000000,
        "endTimeUnixNano": 1544712661000000000,
        "kind": 2,
        "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}]
      }]
    }]
  }]
}"#;

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// What [`SPEC_TRACE_JSON`] means, written out by hand.
pub fn spec_trace_request() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attribute("service.name", "my.service")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "my.library".into(),
                    version: "1.0.0".into(),
                    attributes: vec![string_attribute(
                        "my.scope.attribute",
                        "some scope attribute",
                    )],
                    ..Default::default()
                }),
                spans: vec![Span {
                    trace_id: vec![
                        0x5B, 0x8E, 0xFF, 0xF7, 0x98, 0x03, 0x81, 0x03, 0xD2, 0x69, 0xB6, 0x33,
                        0x81, 0x3F, 0xC6, 0x0C,
                    ],
                    span_id: vec![0xEE, 0xE1, 0x9B, 0x7E, 0xC3, 0xC1, 0xB1, 0x74],
                    parent_span_id: vec![0xEE, 0xE1, 0x9B, 0x7E, 0xC3, 0xC1, 0xB1, 0x73],
                    name: "I'm a server span".into(),
                    start_time_unix_nano: 1_544_712_660_000_000_000,
                    end_time_unix_nano: 1_544_712_661_000_000_000,
                    kind: 2,
                    attributes: vec![string_attribute("my.span.attr", "some value")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn traces_json(json: &str) -> ExportTraceServiceRequest {
    match decode_json(Signal::Traces, json.as_bytes()) {
        Ok(Payload::Traces(request)) => request,
        other => panic!("{json}\n=> {other:?}"),
    }
}

fn first_span(request: &ExportTraceServiceRequest) -> &Span {
    &request.resource_spans[0].scope_spans[0].spans[0]
}

#[test]
fn the_spec_trace_example_decodes() {
    assert_eq!(traces_json(SPEC_TRACE_JSON), spec_trace_request());
}

#[test]
fn the_spec_metrics_and_logs_examples_decode() {
    let metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
        {"name":"my.counter","sum":{"aggregationTemporality":1,"isMonotonic":true,
          "dataPoints":[{"asDouble":5,"startTimeUnixNano":1544712660300000000,"timeUnixNano":"1544712660300000000"}]}},
        {"name":"my.histogram","histogram":{"aggregationTemporality":1,
          "dataPoints":[{"count":"3","sum":3,"bucketCounts":[1,"1",1],"explicitBounds":[1],"min":1,"max":1}]}},
        {"name":"my.gauge","gauge":{"dataPoints":[{"asInt":"-7","timeUnixNano":1}]}}]}]}]}"#;
    let Ok(Payload::Metrics(request)) = decode_json(Signal::Metrics, metrics.as_bytes()) else {
        panic!("metrics example does not decode");
    };
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let Some(metric::Data::Histogram(histogram)) = &metrics[1].data else {
        panic!("not a histogram: {:?}", metrics[1]);
    };
    assert_eq!(histogram.data_points[0].count, 3);
    assert_eq!(histogram.data_points[0].bucket_counts, vec![1, 1, 1]);
    let Some(metric::Data::Gauge(gauge)) = &metrics[2].data else {
        panic!("not a gauge");
    };
    assert_eq!(
        gauge.data_points[0].value,
        Some(number_data_point::Value::AsInt(-7))
    );

    let logs = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{
        "timeUnixNano":"1544712660300000000","severityNumber":9,"severityText":"Information",
        "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "body":{"stringValue":"Example log record"},
        "attributes":[{"key":"int.attribute","value":{"intValue":"10"}},
                      {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"}]}}}]}]}]}]}"#;
    let Ok(Payload::Logs(request)) = decode_json(Signal::Logs, logs.as_bytes()) else {
        panic!("logs example does not decode");
    };
    let record = &request.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(record.severity_number, SeverityNumber::Info as i32);
    assert_eq!(record.trace_id.len(), 16);
    assert_eq!(
        record.attributes[0].value.as_ref().unwrap().value,
        Some(any_value::Value::IntValue(10))
    );
}

#[test]
fn protobuf_json_variants_beyond_the_generated_code_are_accepted() {
    // Enum names, nulls, a quoted 32-bit integer, empty array/map values written `{}`,
    // a KeyValue without a key, a quoted double, and unknown fields.
    let json = r#"{"resourceSpans":[{"resource":null,"unknownField":1,"scopeSpans":[{"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR","message":"boom"},
        "parentSpanId":null,"droppedAttributesCount":"4","startTimeUnixNano":"5",
        "attributes":[
          {"key":"empty.array","value":{"arrayValue":{}}},
          {"key":"empty.map","value":{"kvlistValue":{}}},
          {"key":"map","value":{"kvlistValue":{"values":[{"value":{"boolValue":true}}]}}},
          {"key":"quoted.double","value":{"doubleValue":"1.5"}}
        ]}]}]}]}"#;
    let request = traces_json(json);
    let span = first_span(&request);
    assert_eq!(span.kind, 3);
    let status = span.status.as_ref().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "boom")
    );
    assert_eq!(span.dropped_attributes_count, 4);
    assert_eq!(span.start_time_unix_nano, 5);
    assert!(span.parent_span_id.is_empty());
    let value = |i: usize| {
        span.attributes[i]
            .value
            .as_ref()
            .unwrap()
            .value
            .clone()
            .unwrap()
    };
    assert!(matches!(value(0), any_value::Value::ArrayValue(a) if a.values.is_empty()));
    assert!(matches!(value(1), any_value::Value::KvlistValue(m) if m.values.is_empty()));
    let any_value::Value::KvlistValue(map) = value(2) else {
        panic!("not a map");
    };
    assert_eq!(map.values[0].key, "");
    assert_eq!(value(3), any_value::Value::DoubleValue(1.5));
}

#[test]
fn invalid_json_is_reported_with_the_original_error() {
    for json in [
        "{",
        r#"{"resourceSpans":5}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"NOT_A_KIND"}]}]}]}"#,
    ] {
        let error = decode_json(Signal::Traces, json.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 1"), "{json} => {error}");
    }
}
