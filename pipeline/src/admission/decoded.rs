//! The memory a decoded request takes: its structs, vectors (by capacity) and strings.
//! Queues that hold decoded data count this, not the encoded size, so the memory they
//! hold follows their `max_size`.
//!
//! It is also an upper bound of the encoded size, which spares the memory queue a second
//! walk to size the export requests it merges: every string and bytes field is counted by
//! capacity (at least its length), and every struct by its full size, empty fields
//! included, which exceeds the tags, lengths and numbers it encodes to (a test checks it).

use std::mem::size_of;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric, Exemplar, ResourceMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::Payload;

/// Bytes `payload` occupies in memory, heap included.
pub fn decoded_size(payload: &Payload) -> usize {
    match payload {
        Payload::Traces(request) => vec_size(&request.resource_spans, resource_spans),
        Payload::Metrics(request) => vec_size(&request.resource_metrics, resource_metrics),
        Payload::Logs(request) => vec_size(&request.resource_logs, resource_logs),
    }
}

fn vec_size<T>(items: &Vec<T>, each: impl Fn(&T) -> usize) -> usize {
    items.capacity() * size_of::<T>() + items.iter().map(each).sum::<usize>()
}

fn resource(resource: &Option<Resource>) -> usize {
    resource.as_ref().map_or(0, |r| {
        attributes(&r.attributes)
            + vec_size(&r.entity_refs, |e| {
                let keys = |k: &Vec<String>| vec_size(k, String::capacity);
                e.schema_url.capacity()
                    + e.r#type.capacity()
                    + keys(&e.id_keys)
                    + keys(&e.description_keys)
            })
    })
}

fn attributes(list: &Vec<KeyValue>) -> usize {
    vec_size(list, |kv| {
        kv.key.capacity() + kv.value.as_ref().map_or(0, any_value_heap)
    })
}

fn any_value_heap(value: &AnyValue) -> usize {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.capacity(),
        Some(any_value::Value::BytesValue(b)) => b.capacity(),
        Some(any_value::Value::ArrayValue(array)) => vec_size(&array.values, any_value_heap),
        Some(any_value::Value::KvlistValue(list)) => attributes(&list.values),
        _ => 0,
    }
}

fn scope(scope: &Option<InstrumentationScope>) -> usize {
    scope.as_ref().map_or(0, |s| {
        s.name.capacity() + s.version.capacity() + attributes(&s.attributes)
    })
}

fn exemplars(list: &Vec<Exemplar>) -> usize {
    vec_size(list, |e| {
        e.span_id.capacity() + e.trace_id.capacity() + attributes(&e.filtered_attributes)
    })
}

fn resource_spans(rs: &ResourceSpans) -> usize {
    resource(&rs.resource)
        + rs.schema_url.capacity()
        + vec_size(&rs.scope_spans, |ss| {
            scope(&ss.scope)
                + ss.schema_url.capacity()
                + vec_size(&ss.spans, |span| {
                    span.name.capacity()
                        + span.trace_id.capacity()
                        + span.span_id.capacity()
                        + span.parent_span_id.capacity()
                        + span.trace_state.capacity()
                        + attributes(&span.attributes)
                        + vec_size(&span.events, |e| {
                            e.name.capacity() + attributes(&e.attributes)
                        })
                        + vec_size(&span.links, |l| {
                            l.trace_id.capacity()
                                + l.span_id.capacity()
                                + l.trace_state.capacity()
                                + attributes(&l.attributes)
                        })
                        + span.status.as_ref().map_or(0, |s| s.message.capacity())
                })
        })
}

fn resource_metrics(rm: &ResourceMetrics) -> usize {
    resource(&rm.resource)
        + rm.schema_url.capacity()
        + vec_size(&rm.scope_metrics, |sm| {
            scope(&sm.scope)
                + sm.schema_url.capacity()
                + vec_size(&sm.metrics, |m| {
                    m.name.capacity()
                        + m.description.capacity()
                        + m.unit.capacity()
                        + attributes(&m.metadata)
                        + m.data.as_ref().map_or(0, points)
                })
        })
}

fn points(data: &metric::Data) -> usize {
    match data {
        metric::Data::Gauge(g) => vec_size(&g.data_points, |p| {
            attributes(&p.attributes) + exemplars(&p.exemplars)
        }),
        metric::Data::Sum(s) => vec_size(&s.data_points, |p| {
            attributes(&p.attributes) + exemplars(&p.exemplars)
        }),
        metric::Data::Histogram(h) => vec_size(&h.data_points, |p| {
            attributes(&p.attributes)
                + exemplars(&p.exemplars)
                + 8 * (p.bucket_counts.capacity() + p.explicit_bounds.capacity())
        }),
        metric::Data::ExponentialHistogram(e) => vec_size(&e.data_points, |p| {
            let buckets = |b: &Option<_>| {
                b.as_ref().map_or(0, |b: &opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets| 8 * b.bucket_counts.capacity())
            };
            attributes(&p.attributes)
                + exemplars(&p.exemplars)
                + buckets(&p.positive)
                + buckets(&p.negative)
        }),
        metric::Data::Summary(s) => vec_size(&s.data_points, |p| {
            attributes(&p.attributes) + p.quantile_values.capacity() * 16
        }),
    }
}

fn resource_logs(rl: &ResourceLogs) -> usize {
    resource(&rl.resource)
        + rl.schema_url.capacity()
        + vec_size(&rl.scope_logs, |sl| {
            scope(&sl.scope)
                + sl.schema_url.capacity()
                + vec_size(&sl.log_records, |r| {
                    r.severity_text.capacity()
                        + r.trace_id.capacity()
                        + r.span_id.capacity()
                        + r.event_name.capacity()
                        + attributes(&r.attributes)
                        + r.body.as_ref().map_or(0, any_value_heap)
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, EntityRef};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        exemplar, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ScopeMetrics,
    };
    use opentelemetry_proto::tonic::trace::v1::{span, ScopeSpans, Span};

    fn int(key: &str, value: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(value)),
            }),
            key_strindex: i32::MIN,
        }
    }

    fn scope() -> Option<InstrumentationScope> {
        Some(InstrumentationScope {
            name: "a-library".into(),
            version: "1.2.3".into(),
            attributes: vec![int("", -1)],
            dropped_attributes_count: u32::MAX,
        })
    }

    fn resource() -> Option<Resource> {
        Some(Resource {
            attributes: vec![int("k", i64::MIN)],
            dropped_attributes_count: u32::MAX,
            entity_refs: vec![EntityRef {
                schema_url: "s".into(),
                r#type: "host".into(),
                id_keys: vec!["host.id".into(), String::new()],
                description_keys: vec![String::new()],
            }],
        })
    }

    /// Numbers at their longest encodings, strings short: the encoded form at its
    /// largest against the structs.
    fn traces() -> Payload {
        let bare = Span {
            start_time_unix_nano: u64::MAX,
            end_time_unix_nano: u64::MAX,
            kind: -1,
            flags: u32::MAX,
            dropped_attributes_count: u32::MAX,
            dropped_events_count: u32::MAX,
            dropped_links_count: u32::MAX,
            ..Default::default()
        };
        let full = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "GET /".into(),
            attributes: (0..40).map(|i| int("", -i)).collect(),
            events: vec![span::Event {
                time_unix_nano: u64::MAX,
                ..Default::default()
            }],
            ..bare.clone()
        };
        Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans: vec![bare, full],
                    schema_url: "u".into(),
                }],
                schema_url: "u".into(),
            }],
        })
    }

    fn metrics() -> Payload {
        let exemplar = opentelemetry_proto::tonic::metrics::v1::Exemplar {
            filtered_attributes: vec![int("", -1)],
            time_unix_nano: u64::MAX,
            span_id: vec![2; 8],
            trace_id: vec![1; 16],
            value: Some(exemplar::Value::AsInt(-1)),
        };
        let gauge = NumberDataPoint {
            attributes: vec![int("", -1)],
            start_time_unix_nano: u64::MAX,
            time_unix_nano: u64::MAX,
            exemplars: vec![exemplar.clone(); 5],
            flags: u32::MAX,
            value: Some(number_data_point::Value::AsInt(-1)),
        };
        let histogram = HistogramDataPoint {
            bucket_counts: vec![u64::MAX; 30],
            explicit_bounds: vec![1.0; 29],
            count: u64::MAX,
            sum: Some(1.0),
            min: Some(1.0),
            max: Some(1.0),
            exemplars: vec![exemplar; 3],
            ..Default::default()
        };
        let metric = |data| Metric {
            name: "m".into(),
            data: Some(data),
            ..Default::default()
        };
        Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: vec![
                        metric(metric::Data::Gauge(Gauge {
                            data_points: vec![gauge; 10],
                        })),
                        metric(metric::Data::Histogram(Histogram {
                            data_points: vec![histogram; 4],
                            aggregation_temporality: -1,
                        })),
                    ],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        })
    }

    fn logs() -> Payload {
        let ints = (0..100)
            .map(|i| AnyValue {
                value: Some(any_value::Value::IntValue(-i - 1)),
            })
            .collect();
        let record = LogRecord {
            time_unix_nano: u64::MAX,
            observed_time_unix_nano: u64::MAX,
            severity_number: -1,
            body: Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values: ints })),
            }),
            flags: u32::MAX,
            ..Default::default()
        };
        Payload::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records: vec![record, LogRecord::default()],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        })
    }

    #[test]
    fn the_decoded_size_bounds_the_encoded_size() {
        for payload in [traces(), metrics(), logs()] {
            let (decoded, encoded) = (decoded_size(&payload), payload.encoded_len());
            assert!(
                decoded >= encoded,
                "{:?}: {decoded} decoded < {encoded} encoded",
                payload.signal()
            );
        }
    }
}
