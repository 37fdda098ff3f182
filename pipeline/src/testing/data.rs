//! Sample OTLP data the runners drive through components.

use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use crate::signal::{Payload, Signal};

/// `items` distinct items of one signal under one resource and scope. `seed` makes the
/// items of different calls distinct too (ids, names, timestamps and values differ).
pub fn sample(signal: Signal, items: usize, seed: u64) -> Payload {
    match signal {
        Signal::Traces => Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope()),
                    spans: (0..items).map(|i| span(seed, i as u64)).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Signal::Metrics => Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics: (0..items).map(|i| gauge(seed, i as u64)).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Signal::Logs => Payload::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records: (0..items).map(|i| log(seed, i as u64)).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
    }
}

const BASE_NANOS: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

/// A string attribute.
pub fn string_kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource() -> Resource {
    Resource {
        attributes: vec![string_kv("service.name", "compliance")],
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "sentinel.compliance".to_string(),
        ..Default::default()
    }
}

fn span(seed: u64, index: u64) -> Span {
    let start = BASE_NANOS + seed * 1_000_000_000 + index * 1_000;
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&(seed + 1).to_be_bytes());
    trace_id[8..].copy_from_slice(&(index + 1).to_be_bytes());
    Span {
        trace_id: trace_id.to_vec(),
        span_id: (seed << 32 | (index + 1)).to_be_bytes().to_vec(),
        name: format!("operation-{seed}-{index}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 500,
        attributes: vec![string_kv("sample.index", index.to_string())],
        ..Default::default()
    }
}

fn gauge(seed: u64, index: u64) -> Metric {
    Metric {
        name: format!("compliance.gauge.{index}"),
        unit: "1".to_string(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: BASE_NANOS + seed * 1_000_000_000 + index,
                value: Some(number_data_point::Value::AsDouble(
                    (seed * 1000 + index) as f64,
                )),
                attributes: vec![string_kv("sample.index", index.to_string())],
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

fn log(seed: u64, index: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: BASE_NANOS + seed * 1_000_000_000 + index,
        severity_text: "INFO".to_string(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!(
                "compliance record {seed}-{index}"
            ))),
        }),
        attributes: vec![string_kv("sample.index", index.to_string())],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_the_asked_item_count_per_signal() {
        for signal in Signal::ALL {
            assert_eq!(sample(signal, 7, 1).item_count(), 7, "{signal}");
            assert_ne!(sample(signal, 3, 1), sample(signal, 3, 2), "{signal}");
        }
    }
}
