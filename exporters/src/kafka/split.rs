//! Cutting one OTLP request into Kafka records: first by partition key (trace id, or
//! resource attributes), then in halves (resources, then scopes, then items) until each
//! record's encoding fits `max_message_bytes`. A single item that still does not fit is
//! returned as oversized, for the dead-letter file.

use std::collections::BTreeMap;

use prost::Message as _;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup, ScopeGroup};
use sentinel_pipeline::Payload;

use super::client::Encoding;

/// How records are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keying {
    /// No key: librdkafka spreads records over partitions.
    None,
    /// Spans keyed by their trace id (hex), one trace per record.
    TraceId,
    /// One resource per record, keyed by a hash of its attributes.
    ResourceAttributes,
}

/// One record to produce.
#[derive(Debug)]
pub struct Record {
    pub key: Option<String>,
    pub payload: Payload,
    pub value: Vec<u8>,
}

/// What splitting gives: records that fit, and single items that do not.
#[derive(Debug, Default)]
pub struct Split {
    pub records: Vec<Record>,
    pub oversized: Vec<(Payload, usize)>,
}

/// Splits `payload` into keyed records whose value is at most `max_bytes`.
pub fn split(payload: Payload, keying: Keying, encoding: Encoding, max_bytes: usize) -> Split {
    let mut out = Split::default();
    for (key, part) in keyed(payload, keying) {
        fit(part, &key, encoding, max_bytes, &mut out);
    }
    out
}

fn keyed(payload: Payload, keying: Keying) -> Vec<(Option<String>, Payload)> {
    match (keying, payload) {
        (Keying::TraceId, Payload::Traces(request)) => by_trace(request)
            .into_iter()
            .map(|(id, request)| (Some(const_hex::encode(id)), Payload::Traces(request)))
            .collect(),
        (Keying::ResourceAttributes, Payload::Metrics(request)) => {
            by_resource(request, Payload::Metrics)
        }
        (Keying::ResourceAttributes, Payload::Logs(request)) => by_resource(request, Payload::Logs),
        (_, payload) => vec![(None, payload)],
    }
}

/// One request per trace id, each keeping its spans' resources and scopes.
fn by_trace(request: ExportTraceServiceRequest) -> BTreeMap<Vec<u8>, ExportTraceServiceRequest> {
    let mut traces: BTreeMap<Vec<u8>, ExportTraceServiceRequest> = BTreeMap::new();
    for mut group in request.resource_spans {
        let scopes = std::mem::take(&mut group.scope_spans);
        for mut scope in scopes {
            let spans = std::mem::take(&mut scope.spans);
            for span in spans {
                let request = traces.entry(span.trace_id.clone()).or_default();
                let groups = &mut request.resource_spans;
                // Spans arrive grouped, so the request's last resource and scope are
                // the span's own unless this is the first span of a new one.
                if groups.last().is_none_or(|g| {
                    g.resource != group.resource || g.schema_url != group.schema_url
                }) {
                    groups.push(group.clone());
                }
                let Some(last) = groups.last_mut() else {
                    continue;
                };
                let scopes = &mut last.scope_spans;
                if scopes
                    .last()
                    .is_none_or(|s| s.scope != scope.scope || s.schema_url != scope.schema_url)
                {
                    scopes.push(scope.clone());
                }
                if let Some(target) = scopes.last_mut() {
                    target.spans.push(span);
                }
            }
        }
    }
    traces
}

fn by_resource<Q: ExportRequest>(
    mut request: Q,
    wrap: fn(Q) -> Payload,
) -> Vec<(Option<String>, Payload)> {
    std::mem::take(request.groups_mut())
        .into_iter()
        .map(|group| {
            let key = resource_key(
                group
                    .resource()
                    .map(|r| r.attributes.as_slice())
                    .unwrap_or_default(),
            );
            let mut one = Q::default();
            one.groups_mut().push(group);
            (Some(key), wrap(one))
        })
        .collect()
}

/// A stable key for a set of resource attributes, whatever their order: the hex xxh64
/// of the attributes' protobuf encodings, sorted.
pub fn resource_key(attributes: &[KeyValue]) -> String {
    let mut encoded: Vec<Vec<u8>> = attributes.iter().map(|kv| kv.encode_to_vec()).collect();
    encoded.sort();
    let mut bytes = Vec::new();
    for kv in encoded {
        bytes.extend_from_slice(&(kv.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&kv);
    }
    const_hex::encode(xxhash_rust::xxh64::xxh64(&bytes, 0).to_be_bytes())
}

fn fit(payload: Payload, key: &Option<String>, encoding: Encoding, max: usize, out: &mut Split) {
    let value = encoding.encode(&payload);
    if value.len() <= max {
        out.records.push(Record {
            key: key.clone(),
            payload,
            value,
        });
        return;
    }
    let size = value.len();
    drop(value);
    match halve(payload) {
        Ok((first, second)) => {
            fit(first, key, encoding, max, out);
            fit(second, key, encoding, max, out);
        }
        Err(single) => out.oversized.push((single, size)),
    }
}

/// Two halves of a request, or the request back if it holds a single item.
pub fn halve(payload: Payload) -> Result<(Payload, Payload), Payload> {
    match payload {
        Payload::Traces(r) => halve_request(r)
            .map(|(a, b)| (Payload::Traces(a), Payload::Traces(b)))
            .map_err(Payload::Traces),
        Payload::Metrics(r) => halve_request(r)
            .map(|(a, b)| (Payload::Metrics(a), Payload::Metrics(b)))
            .map_err(Payload::Metrics),
        Payload::Logs(r) => halve_request(r)
            .map(|(a, b)| (Payload::Logs(a), Payload::Logs(b)))
            .map_err(Payload::Logs),
    }
}

fn halve_request<Q>(mut request: Q) -> Result<(Q, Q), Q>
where
    Q: ExportRequest,
    Q::Group: Clone,
    Q::Scope: Clone,
{
    let groups = request.groups_mut();
    if groups.len() > 1 {
        let second = groups.split_off(groups.len() / 2);
        let mut other = Q::default();
        *other.groups_mut() = second;
        return Ok((request, other));
    }
    let Some(group) = groups.first_mut() else {
        return Err(request);
    };
    if group.scopes().len() > 1 {
        let mut scopes = std::mem::take(group.scopes_mut());
        let second = scopes.split_off(scopes.len() / 2);
        let shell = group.clone();
        *group.scopes_mut() = scopes;
        return Ok((request, with_scopes(shell, second)));
    }
    let mut scopes = std::mem::take(group.scopes_mut());
    let Some(scope) = scopes.first_mut().filter(|s| s.items().len() > 1) else {
        *group.scopes_mut() = scopes;
        return Err(request);
    };
    let mut items = std::mem::take(scope.items_mut());
    let second = items.split_off(items.len() / 2);
    let mut scope_shell = scope.clone();
    *scope.items_mut() = items;
    *scope_shell.items_mut() = second;
    let shell = group.clone();
    *group.scopes_mut() = scopes;
    Ok((request, with_scopes(shell, vec![scope_shell])))
}

/// A request of one resource (an empty `shell` of it) holding `scopes`.
fn with_scopes<Q: ExportRequest>(mut shell: Q::Group, scopes: Vec<Q::Scope>) -> Q {
    *shell.scopes_mut() = scopes;
    let mut request = Q::default();
    request.groups_mut().push(shell);
    request
}
