//! Builds `sentinel.alert` records exactly as the contract between the alert_rules
//! connector and the notifiers describes them; unit tests, compliance tests and the
//! end-to-end tests all use this one definition.

use std::time::{Duration, SystemTime};

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::common::v1::any_value::Value;
use sentinel_pipeline::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, KeyValueList};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::resource::v1::Resource;

use super::alert::{fingerprint, Labels, EVENT_NAME};

/// One alert instance at one evaluation.
#[derive(Debug, Clone)]
pub struct AlertSpec {
    pub labels: Labels,
    pub annotations: Labels,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    pub starts_at: SystemTime,
    /// Firing: ValidUntil; resolved: the resolve time.
    pub ends_at: SystemTime,
    pub value: f64,
    pub rule_group: String,
    pub generator_url: String,
}

impl AlertSpec {
    /// A firing alert named `alertname` with extra `labels` (`name=value` pairs),
    /// started now, valid for 4 minutes.
    pub fn firing(alertname: &str, labels: &[(&str, &str)]) -> AlertSpec {
        let mut all: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert("alertname".into(), alertname.into());
        let now = SystemTime::now();
        AlertSpec {
            annotations: Labels::from([
                ("summary".into(), format!("{alertname} is firing")),
                (
                    "remediation".into(),
                    "1. Look at the host.\n2. Fix it.".into(),
                ),
            ]),
            labels: all,
            state: "firing".into(),
            starts_at: now,
            ends_at: now + Duration::from_secs(240),
            value: 1.0,
            rule_group: "test".into(),
            generator_url: String::new(),
        }
    }

    /// The same alert, resolved now.
    pub fn resolved(mut self) -> AlertSpec {
        self.state = "resolved".into();
        self.ends_at = SystemTime::now();
        self
    }

    pub fn with_state(mut self, state: &str) -> AlertSpec {
        self.state = state.into();
        self
    }

    pub fn record(&self) -> LogRecord {
        let now = SystemTime::now();
        let nanos = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let severity = self.labels.get("severity").map(String::as_str);
        let (number, text) = match severity {
            Some("critical") => (17, "ERROR"),
            Some("info") => (9, "INFO"),
            _ => (13, "WARN"),
        };
        let alertname = self.labels.get("alertname").cloned().unwrap_or_default();
        let body = self
            .annotations
            .get("summary")
            .cloned()
            .unwrap_or(alertname.clone());
        LogRecord {
            time_unix_nano: nanos,
            observed_time_unix_nano: nanos,
            severity_number: number,
            severity_text: text.into(),
            body: Some(string(body)),
            event_name: EVENT_NAME.into(),
            attributes: vec![
                kv("alertname", string(alertname)),
                kv("state", string(self.state.clone())),
                kv("labels", list(&self.labels)),
                kv("annotations", list(&self.annotations)),
                kv("startsAt", string(rfc3339(self.starts_at))),
                kv("endsAt", string(rfc3339(self.ends_at))),
                kv("fingerprint", string(fingerprint(&self.labels))),
                kv(
                    "value",
                    AnyValue {
                        value: Some(Value::DoubleValue(self.value)),
                    },
                ),
                kv("rule_group", string(self.rule_group.clone())),
                kv("generatorURL", string(self.generator_url.clone())),
            ],
            ..Default::default()
        }
    }
}

/// RFC 3339 UTC with milliseconds, as the contract writes times.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// A logs request holding `alerts` as the connector emits them.
pub fn alerts_request(alerts: &[AlertSpec]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", string("sentinel".into()))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "sentinel.alert_rules".into(),
                    ..Default::default()
                }),
                log_records: alerts.iter().map(AlertSpec::record).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn string(text: String) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(text)),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn list(labels: &Labels) -> AnyValue {
    AnyValue {
        value: Some(Value::KvlistValue(KeyValueList {
            values: labels
                .iter()
                .map(|(k, v)| kv(k, string(v.clone())))
                .collect(),
        })),
    }
}

/// Compliance samples: `items` firing alerts, distinct per seed and index.
pub fn alert_samples(
    _signal: sentinel_pipeline::Signal,
    items: usize,
    seed: u64,
) -> sentinel_pipeline::Payload {
    let alerts: Vec<AlertSpec> = (0..items)
        .map(|i| {
            AlertSpec::firing(
                "ComplianceAlert",
                &[("seed", &seed.to_string()), ("item", &i.to_string())],
            )
        })
        .collect();
    sentinel_pipeline::Payload::Logs(alerts_request(&alerts))
}

/// A due notification of `specs` grouped by `alertname`, as the grouper makes it.
pub fn notification(receiver: &str, specs: &[AlertSpec]) -> super::group::Notification {
    let settings = super::group::GroupSettings {
        route: super::settings::RouteConfig {
            group_by: vec!["alertname".into()],
            group_wait: Duration::ZERO,
            ..Default::default()
        },
        send_resolved: true,
    };
    let mut grouper = super::group::Grouper::new(receiver, settings, None);
    let payload = sentinel_pipeline::Payload::Logs(alerts_request(specs));
    let now = tokio::time::Instant::now();
    for alert in super::alert::decode(&payload).0 {
        let _ = grouper.insert(alert, now);
    }
    grouper
        .due(now, SystemTime::now(), &|_| false)
        .into_iter()
        .next()
        .expect("a group with a firing alert is due")
}
