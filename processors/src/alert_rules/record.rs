//! The `sentinel.alert` log record (the contract with the notification exporters:
//! docs/alerting.md) and the alert fingerprint.

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{
    any_value, AnyValue, InstrumentationScope, KeyValue, KeyValueList,
};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use sentinel_pipeline::otlp::resource::v1::Resource;
use std::time::{Duration, UNIX_EPOCH};

use super::alerting::Notice;
use super::engine::Labels;

pub const EVENT_NAME: &str = "sentinel.alert";
pub const SCOPE: &str = "sentinel.alert_rules";

/// A stable 64-bit hash of the sorted label set, as 16 lowercase hex digits: the same
/// labels give the same fingerprint on every agent and across restarts.
pub fn fingerprint(labels: &Labels) -> String {
    let mut bytes = Vec::new();
    for (name, value) in labels {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0xff);
    }
    format!("{:016x}", xxhash_rust::xxh64::xxh64(&bytes, 0))
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

fn text(value: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.into())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn kvlist(map: &Labels) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: map.iter().map(|(k, v)| kv(k, text(v.clone()))).collect(),
        })),
    }
}

fn severity(labels: &Labels) -> (SeverityNumber, &'static str) {
    match labels.get("severity").map(String::as_str) {
        Some("critical") => (SeverityNumber::Error, "ERROR"),
        Some("info") => (SeverityNumber::Info, "INFO"),
        _ => (SeverityNumber::Warn, "WARN"),
    }
}

/// One record of an alert notice at evaluation time `ts` (ms).
pub fn log_record(notice: &Notice, ts: i64, group: &str, external: &Labels) -> LogRecord {
    let alert = &notice.alert;
    let mut labels = external.clone();
    labels.extend(alert.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let alertname = labels.get("alertname").cloned().unwrap_or_default();
    let (number, severity_text) = severity(&labels);
    let body = alert
        .annotations
        .get("summary")
        .cloned()
        .unwrap_or_else(|| alertname.clone());
    let nanos = ts.max(0) as u64 * 1_000_000;
    LogRecord {
        time_unix_nano: nanos,
        observed_time_unix_nano: nanos,
        severity_number: number as i32,
        severity_text: severity_text.into(),
        event_name: EVENT_NAME.into(),
        body: Some(text(body)),
        attributes: vec![
            kv("alertname", text(alertname)),
            kv("state", text(notice.state)),
            kv("fingerprint", text(fingerprint(&labels))),
            kv("labels", kvlist(&labels)),
            kv("annotations", kvlist(&alert.annotations)),
            kv("startsAt", text(rfc3339(notice.starts_at))),
            kv("endsAt", text(rfc3339(notice.ends_at))),
            kv(
                "value",
                AnyValue {
                    value: Some(any_value::Value::DoubleValue(alert.value)),
                },
            ),
            kv("rule_group", text(group)),
            kv("generatorURL", text("")),
        ],
        ..Default::default()
    }
}

/// The request that carries `records`: resource `service.name = sentinel`, scope
/// `sentinel.alert_rules`.
pub fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", text("sentinel"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
