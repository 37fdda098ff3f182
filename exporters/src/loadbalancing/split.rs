//! Splitting a request by routing key: every item (span, log record, metric, or metric
//! stream) gets a 64-bit key, and the request becomes one sub-request per distinct key,
//! keeping the resource and scope of each item. Items are moved, never copied; resource
//! and scope headers are cloned once per key that uses them.

use std::collections::HashMap;

use prost::Message;
use sentinel_pipeline::otlp::common::v1::{any_value, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::Metric;
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup, ScopeGroup};
use sentinel_pipeline::Payload;
use xxhash_rust::xxh64::{xxh64, Xxh64};

use super::config::RoutingKey;

/// Splits `payload` into `(key, part)` pairs, one per distinct routing key, in the order
/// keys first appear. `salt` makes the keys of items without one (log records without a
/// trace id) differ between records yet stay the same on every retry of one record.
pub fn split(payload: Payload, key: RoutingKey, salt: u64) -> Vec<(u64, Payload)> {
    match payload {
        Payload::Traces(request) => split_request(request, key, |_, span: &_, _| {
            let span: &sentinel_pipeline::otlp::trace::v1::Span = span;
            xxh64(&span.trace_id, 0)
        })
        .into_iter()
        .map(|(k, r)| (k, Payload::Traces(r)))
        .collect(),
        Payload::Logs(request) => split_request(request, key, |_, record: &_, index| {
            let record: &sentinel_pipeline::otlp::logs::v1::LogRecord = record;
            if record.trace_id.iter().any(|b| *b != 0) {
                xxh64(&record.trace_id, 0)
            } else {
                // No trace to keep together: spread such records, the same way each retry.
                xxh64(&(index as u64).to_le_bytes(), salt)
            }
        })
        .into_iter()
        .map(|(k, r)| (k, Payload::Logs(r)))
        .collect(),
        Payload::Metrics(mut request) => {
            if key == RoutingKey::StreamId {
                explode_streams(&mut request);
            }
            split_request(request, key, |scope_hash, metric: &Metric, _| {
                metric_key(key, scope_hash, metric)
            })
            .into_iter()
            .map(|(k, r)| (k, Payload::Metrics(r)))
            .collect()
        }
    }
}

/// The key of a metric when routing by `metric` or `streamID` (after [`explode_streams`]
/// every metric holds the points of one stream); `scope_hash` already covers the resource
/// (and the scope for `streamID`).
fn metric_key(key: RoutingKey, scope_hash: u64, metric: &Metric) -> u64 {
    match key {
        RoutingKey::Metric => xxh64(metric.name.as_bytes(), scope_hash),
        RoutingKey::StreamId => {
            let attributes = first_point_attributes(metric);
            xxh64(
                metric.name.as_bytes(),
                attributes_hash(attributes, scope_hash),
            )
        }
        _ => scope_hash,
    }
}

/// What part of the key a resource contributes.
fn resource_hash(key: RoutingKey, resource: Option<&Resource>) -> u64 {
    let attributes = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
    match key {
        RoutingKey::TraceId => 0,
        RoutingKey::Service => xxh64(service_name(attributes).as_bytes(), 0),
        RoutingKey::Resource | RoutingKey::Metric | RoutingKey::StreamId => {
            attributes_hash(attributes, 0)
        }
    }
}

fn service_name(attributes: &[KeyValue]) -> &str {
    attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// A hash of a set of attributes that does not depend on their order.
fn attributes_hash(attributes: &[KeyValue], seed: u64) -> u64 {
    let mut sorted: Vec<&KeyValue> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut hasher = Xxh64::new(seed);
    let mut buffer = Vec::new();
    for kv in sorted {
        buffer.clear();
        // Encoding into a Vec cannot fail.
        let _ = kv.encode(&mut buffer);
        hasher.update(&buffer);
    }
    hasher.digest()
}

fn scope_hash(key: RoutingKey, resource_hash: u64, scope: Option<&InstrumentationScope>) -> u64 {
    match (key, scope) {
        (RoutingKey::StreamId, Some(scope)) => xxh64(
            format!("{}\u{0}{}", scope.name, scope.version).as_bytes(),
            attributes_hash(&scope.attributes, resource_hash),
        ),
        _ => resource_hash,
    }
}

/// Where one key's sub-request is and which source resource and scope it last took.
struct Slot {
    out: usize,
    group: usize,
    scope: usize,
}

/// The generic split. `item_key` gets the resource-and-scope hash, the item, and the
/// item's index in the request; items whose key ignores the item (service, resource)
/// take the resource's hash directly.
fn split_request<Q>(
    mut request: Q,
    key: RoutingKey,
    mut item_key: impl FnMut(u64, &Q::Item, usize) -> u64,
) -> Vec<(u64, Q)>
where
    Q: ExportRequest,
    Q::Group: Clone,
    Q::Scope: Clone,
{
    let per_item = matches!(
        key,
        RoutingKey::TraceId | RoutingKey::Metric | RoutingKey::StreamId
    );
    let mut outs: Vec<(u64, Q)> = Vec::new();
    let mut slots: HashMap<u64, Slot> = HashMap::new();
    let mut index = 0usize;
    for (g, mut group) in std::mem::take(request.groups_mut()).into_iter().enumerate() {
        let resource = resource_hash(key, group.resource());
        let scopes = std::mem::take(group.scopes_mut());
        for (s, mut scope) in scopes.into_iter().enumerate() {
            let base = scope_hash(key, resource, scope.scope());
            for item in std::mem::take(scope.items_mut()) {
                let k = if per_item {
                    item_key(base, &item, index)
                } else {
                    base
                };
                index += 1;
                let slot = slots.entry(k).or_insert_with(|| {
                    outs.push((k, Q::default()));
                    Slot {
                        out: outs.len() - 1,
                        group: usize::MAX,
                        scope: usize::MAX,
                    }
                });
                let groups = outs[slot.out].1.groups_mut();
                if slot.group != g {
                    groups.push(group.clone());
                    slot.group = g;
                    slot.scope = usize::MAX;
                }
                let out_group = groups.last_mut().expect("pushed above");
                if slot.scope != s {
                    out_group.scopes_mut().push(scope.clone());
                    slot.scope = s;
                }
                let out_scope = out_group.scopes_mut().last_mut().expect("pushed above");
                out_scope.items_mut().push(item);
            }
        }
    }
    outs
}

fn first_point_attributes(metric: &Metric) -> &[KeyValue] {
    sentinel_pipeline::visit::points(metric)
        .next()
        .map(|p| p.attributes())
        .unwrap_or(&[])
}

/// Splits every metric whose points belong to several streams (distinct attribute sets)
/// into one metric per stream, so that [`split_request`] can route whole metrics.
fn explode_streams(
    request: &mut sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest,
) {
    for group in &mut request.resource_metrics {
        for scope in &mut group.scope_metrics {
            let metrics = std::mem::take(&mut scope.metrics);
            for metric in metrics {
                explode_metric(metric, &mut scope.metrics);
            }
        }
    }
}

fn explode_metric(mut metric: Metric, out: &mut Vec<Metric>) {
    macro_rules! by_stream {
        ($data:expr, $variant:ident) => {{
            let points = std::mem::take(&mut $data.data_points);
            let header = $data.clone();
            let mut streams: Vec<(u64, Vec<_>)> = Vec::new();
            for point in points {
                let h = attributes_hash(&point.attributes, 0);
                match streams.iter_mut().find(|(k, _)| *k == h) {
                    Some((_, list)) => list.push(point),
                    None => streams.push((h, vec![point])),
                }
            }
            if streams.len() <= 1 {
                $data.data_points = streams.pop().map(|(_, p)| p).unwrap_or_default();
                out.push(metric);
                return;
            }
            let mut template = metric.clone();
            template.data = None;
            for (_, points) in streams {
                let mut data = header.clone();
                data.data_points = points;
                let mut one = template.clone();
                one.data = Some(Data::$variant(data));
                out.push(one);
            }
        }};
    }
    match metric.data.as_mut() {
        Some(Data::Gauge(d)) => by_stream!(d, Gauge),
        Some(Data::Sum(d)) => by_stream!(d, Sum),
        Some(Data::Histogram(d)) => by_stream!(d, Histogram),
        Some(Data::ExponentialHistogram(d)) => by_stream!(d, ExponentialHistogram),
        Some(Data::Summary(d)) => by_stream!(d, Summary),
        None => out.push(metric),
    }
}
