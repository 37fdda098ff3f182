//! `sentinel.alert` log records (the alert_rules connector's output) decoded into alerts.

use std::collections::BTreeMap;
use std::time::SystemTime;

use sentinel_pipeline::otlp::common::v1::any_value::Value;
use sentinel_pipeline::otlp::common::v1::{AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::LogRecord;
use sentinel_pipeline::visit;
use sentinel_pipeline::Payload;
use serde::{Deserialize, Serialize};

/// The event name every alert record carries.
pub const EVENT_NAME: &str = "sentinel.alert";

/// Label set: names to values, sorted.
pub type Labels = BTreeMap<String, String>;

/// An alert as the notifiers see it (Alertmanager's alert model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    /// RFC 3339, as the record carries it.
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

impl Alert {
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn severity(&self) -> &str {
        self.labels
            .get("severity")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Firing, unless the record said resolved or its `endsAt` has passed (an alert the
    /// connector stopped re-sending resolves by itself, as in Alertmanager).
    pub fn status_at(&self, now: SystemTime) -> Status {
        if self.status == Status::Resolved {
            return Status::Resolved;
        }
        match humantime::parse_rfc3339_weak(&self.ends_at) {
            Ok(ends) if ends < now => Status::Resolved,
            _ => Status::Firing,
        }
    }
}

/// What one payload held besides alerts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// `pending` alerts: history only, notifiers ignore them.
    pub pending: usize,
    /// Log records that are not `sentinel.alert` records, or lack labels.
    pub not_alerts: usize,
}

/// The firing and resolved alerts of a logs payload.
pub fn decode(payload: &Payload) -> (Vec<Alert>, Skipped) {
    let mut alerts = Vec::new();
    let mut skipped = Skipped::default();
    let Payload::Logs(request) = payload else {
        return (alerts, skipped);
    };
    for (_, _, record) in visit::items(request) {
        match decode_record(record) {
            Decoded::Alert(alert) => alerts.push(alert),
            Decoded::Pending => skipped.pending += 1,
            Decoded::NotAlert => skipped.not_alerts += 1,
        }
    }
    (alerts, skipped)
}

enum Decoded {
    Alert(Alert),
    Pending,
    NotAlert,
}

fn decode_record(record: &LogRecord) -> Decoded {
    if record.event_name != EVENT_NAME {
        return Decoded::NotAlert;
    }
    let attr = |key: &str| record.attributes.iter().find(|kv| kv.key == key);
    let text = |key: &str| {
        attr(key)
            .and_then(|kv| string(kv.value.as_ref()))
            .unwrap_or_default()
    };
    let status = match text("state").as_str() {
        "firing" => Status::Firing,
        "resolved" => Status::Resolved,
        "pending" => return Decoded::Pending,
        _ => return Decoded::NotAlert,
    };
    let mut labels = attr("labels")
        .map(|kv| kvlist(kv.value.as_ref()))
        .unwrap_or_default();
    let alertname = text("alertname");
    if !alertname.is_empty() {
        labels.entry("alertname".into()).or_insert(alertname);
    }
    if labels.is_empty() {
        return Decoded::NotAlert;
    }
    let fingerprint = match text("fingerprint") {
        f if f.is_empty() => fingerprint(&labels),
        f => f,
    };
    Decoded::Alert(Alert {
        annotations: attr("annotations")
            .map(|kv| kvlist(kv.value.as_ref()))
            .unwrap_or_default(),
        starts_at: text("startsAt"),
        ends_at: text("endsAt"),
        generator_url: text("generatorURL"),
        fingerprint,
        status,
        labels,
    })
}

fn string(value: Option<&AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn kvlist(value: Option<&AnyValue>) -> Labels {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::KvlistValue(list)) => list
            .values
            .iter()
            .filter_map(|kv: &KeyValue| Some((kv.key.clone(), string(kv.value.as_ref())?)))
            .collect(),
        _ => Labels::new(),
    }
}

/// A stable 64-bit hash of the sorted label set, 16 hex digits (used when a record has
/// no fingerprint).
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
