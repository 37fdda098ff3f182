//! Small OTLP payloads for the processor tests.

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::visit;
use sentinel_pipeline::Payload;

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

/// One resource, one scope, spans named `{prefix}{i}`.
pub fn spans(prefix: &str, count: usize) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(prefix),
            scope_spans: vec![ScopeSpans {
                spans: (0..count)
                    .map(|i| Span {
                        name: format!("{prefix}{i}"),
                        attributes: vec![kv("existing", "old")],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

pub fn logs(count: usize) -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("logs"),
            scope_logs: vec![ScopeLogs {
                log_records: (0..count)
                    .map(|_| LogRecord {
                        attributes: vec![kv("existing", "old")],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// `metrics` gauges with `points` data points each.
pub fn gauges(metrics: usize, points: usize) -> Payload {
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("metrics"),
            scope_metrics: vec![ScopeMetrics {
                metrics: (0..metrics)
                    .map(|m| Metric {
                        name: format!("g{m}"),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: (0..points)
                                .map(|p| NumberDataPoint {
                                    attributes: vec![kv("existing", "old")],
                                    value: Some(number_data_point::Value::AsInt(p as i64)),
                                    ..Default::default()
                                })
                                .collect(),
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Span names in order.
pub fn span_names(payload: &Payload) -> Vec<String> {
    let Payload::Traces(req) = payload else {
        return vec![];
    };
    visit::items(req).map(|(_, _, s)| s.name.clone()).collect()
}
