//! Tests of the connector, the processor and usage extraction. Price arithmetic and the
//! price files are tested in `prices/tests.rs`.

mod connector;
mod processor;
mod usage;

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::Payload;

/// An attribute value in a test: `S` string, `I` int, `D` double.
pub enum V {
    S(&'static str),
    I(i64),
    D(f64),
}

pub fn attrs(pairs: &[(&str, V)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.to_string(),
            value: Some(AnyValue {
                value: Some(match v {
                    V::S(s) => any_value::Value::StringValue(s.to_string()),
                    V::I(i) => any_value::Value::IntValue(*i),
                    V::D(d) => any_value::Value::DoubleValue(*d),
                }),
            }),
            ..Default::default()
        })
        .collect()
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(service.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

pub fn span(attributes: Vec<KeyValue>) -> Span {
    Span {
        name: "chat".into(),
        start_time_unix_nano: 1_780_000_000_000_000_000,
        end_time_unix_nano: 1_780_000_001_000_000_000,
        attributes,
        ..Default::default()
    }
}

pub fn traces(service: &str, spans: Vec<Span>) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// A `claude_code.api_request` event as Claude Code sends it.
pub fn api_request(model: &'static str, tokens: [i64; 4], cost_usd: f64) -> LogRecord {
    let mut attributes = attrs(&[
        ("event.name", V::S("api_request")),
        ("session.id", V::S("sess-1")),
        ("model", V::S(model)),
        ("input_tokens", V::I(tokens[0])),
        ("output_tokens", V::I(tokens[1])),
        ("cache_read_tokens", V::I(tokens[2])),
        ("cache_creation_tokens", V::I(tokens[3])),
        ("cost_usd", V::D(cost_usd)),
        ("duration_ms", V::I(2100)),
    ]);
    // Claude Code names the event in the record's event_name and in `event.name`.
    attributes[0].value = Some(AnyValue {
        value: Some(any_value::Value::StringValue(
            "claude_code.api_request".into(),
        )),
    });
    LogRecord {
        time_unix_nano: 1_780_000_000_000_000_000,
        event_name: "claude_code.api_request".into(),
        attributes,
        ..Default::default()
    }
}

pub fn logs(service: &str, records: Vec<LogRecord>) -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}
