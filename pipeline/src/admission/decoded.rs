//! The memory a decoded request takes: its structs, vectors (by capacity) and strings.
//! Queues that hold decoded data count this, not the encoded size, so the memory they
//! hold follows their `max_size`.

use std::mem::size_of;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric, ResourceMetrics};
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
    resource.as_ref().map_or(0, |r| attributes(&r.attributes))
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

fn resource_spans(rs: &ResourceSpans) -> usize {
    resource(&rs.resource)
        + vec_size(&rs.scope_spans, |ss| {
            ss.scope.as_ref().map_or(0, |s| attributes(&s.attributes))
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
        + vec_size(&rm.scope_metrics, |sm| {
            sm.scope.as_ref().map_or(0, |s| attributes(&s.attributes))
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
        metric::Data::Gauge(g) => vec_size(&g.data_points, |p| attributes(&p.attributes)),
        metric::Data::Sum(s) => vec_size(&s.data_points, |p| attributes(&p.attributes)),
        metric::Data::Histogram(h) => vec_size(&h.data_points, |p| {
            attributes(&p.attributes)
                + 8 * (p.bucket_counts.capacity() + p.explicit_bounds.capacity())
        }),
        metric::Data::ExponentialHistogram(e) => vec_size(&e.data_points, |p| {
            let buckets = |b: &Option<_>| {
                b.as_ref().map_or(0, |b: &opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets| 8 * b.bucket_counts.capacity())
            };
            attributes(&p.attributes) + buckets(&p.positive) + buckets(&p.negative)
        }),
        metric::Data::Summary(s) => vec_size(&s.data_points, |p| {
            attributes(&p.attributes) + p.quantile_values.capacity() * 16
        }),
    }
}

fn resource_logs(rl: &ResourceLogs) -> usize {
    resource(&rl.resource)
        + vec_size(&rl.scope_logs, |sl| {
            sl.scope.as_ref().map_or(0, |s| attributes(&s.attributes))
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
