//! One hook event → one OTLP log record: event name, lifted attributes, the payload as a
//! structured body capped at `max_payload_size`.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value;

use crate::policy::{Action, Decision};

/// Prefix of every hook log record's event name.
pub const EVENT_PREFIX: &str = "claude_code.hook.";
/// Hook JSON field → log attribute, lifted when present.
const LIFTED: &[(&str, &str)] = &[
    ("session_id", "session.id"),
    ("tool_name", "gen_ai.tool.name"),
    ("tool_use_id", "tool_use_id"),
    ("agent_id", "agent.id"),
    ("agent_type", "agent.type"),
    ("cwd", "cwd"),
    ("permission_mode", "permission_mode"),
    ("duration_ms", "duration_ms"),
    ("prompt_id", "prompt.id"),
];
/// Severity INFO (OTLP `SeverityNumber` 9).
const SEVERITY_INFO: i32 = 9;

/// The event's `hook_event_name`, `unknown` when missing or not a string.
pub fn event_name(event: &Value) -> &str {
    event
        .get("hook_event_name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
}

/// Builds the log record of an (already redacted) event. `decision` is the policy's
/// verdict on a PreToolUse event.
pub fn to_log_record(mut event: Value, decision: Option<&Decision>, max_bytes: usize) -> LogRecord {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    let mut attributes = Vec::new();
    for (field, attribute) in LIFTED {
        if let Some(value) = event.get(*field).and_then(scalar) {
            attributes.push(key_value(attribute, value));
        }
    }
    if let Some(decision) = decision {
        let action = match decision.action {
            Action::Allow => "allow",
            Action::Ask => "ask",
            Action::Deny => "deny",
        };
        attributes.push(key_value("sentinel.policy.decision", string(action)));
        if let Some(rule) = &decision.rule_id {
            attributes.push(key_value("sentinel.policy.rule_id", string(rule)));
        }
    }
    if super::truncate::cap(&mut event, max_bytes) {
        attributes.push(key_value("sentinel.truncated", bool_value(true)));
    }
    LogRecord {
        time_unix_nano: now,
        observed_time_unix_nano: now,
        severity_number: SEVERITY_INFO,
        severity_text: "INFO".to_string(),
        event_name: format!("{EVENT_PREFIX}{}", event_name(&event)),
        body: Some(any_value(&event)),
        attributes,
        ..Default::default()
    }
}

/// Wraps records in a request with resource `service.name=claude-code`.
pub fn to_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![key_value("service.name", string("claude-code"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "sentinel.hooks".to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// JSON → OTLP AnyValue, keeping the structure (objects become kvlists).
pub fn any_value(value: &Value) -> AnyValue {
    let inner = match value {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or_default()),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any_value).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map
                .iter()
                .map(|(k, v)| key_value(k, any_value(v)))
                .collect(),
        })),
    };
    AnyValue { value: inner }
}

fn scalar(value: &Value) -> Option<AnyValue> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(any_value(value)),
        _ => None,
    }
}

fn string(text: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.to_string())),
    }
}

fn bool_value(b: bool) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::BoolValue(b)),
    }
}

fn key_value(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}
