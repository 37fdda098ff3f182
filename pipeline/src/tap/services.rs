//! A bounded count of spans per `service.name`, fed by receivers' trace outputs.

use std::collections::HashMap;
use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::lock;
use crate::signal::wire;

/// Field numbers: `ExportTraceServiceRequest.resource_spans`, `ResourceSpans.resource` and
/// `.scope_spans`, `ScopeSpans.spans`, `Resource.attributes`, `KeyValue.key` and `.value`,
/// `AnyValue.string_value`.
const RESOURCE_SPANS: u64 = 1;
const RESOURCE: u64 = 1;
const SCOPE_SPANS: u64 = 2;
const SPANS: u64 = 2;
const ATTRIBUTES: u64 = 1;
const KEY: u64 = 1;
const VALUE: u64 = 2;
const STRING_VALUE: u64 = 1;

/// The first `service.name` attribute's value in an encoded `Resource`, if a string (as
/// the decoded count reads it).
fn encoded_service_name(resource: &[u8]) -> Option<&str> {
    let attribute = wire::delimited(resource, ATTRIBUTES)
        .find(|kv| wire::delimited(kv, KEY).last() == Some(b"service.name".as_slice()))?;
    let value = wire::delimited(attribute, VALUE).last()?;
    let text = wire::delimited(value, STRING_VALUE).last()?;
    std::str::from_utf8(text).ok()
}

/// Distinct services counted by name; later ones are counted under [`OTHER`].
pub const MAX_SERVICES: usize = 256;
/// Where spans of services beyond [`MAX_SERVICES`] are counted.
pub const OTHER: &str = "(other services)";
/// Spans whose resource has no `service.name`.
pub const UNKNOWN: &str = "(no service.name)";

/// Spans seen per service, bounded to `max` names.
pub struct ServiceCounter {
    max: usize,
    counts: Mutex<HashMap<String, u64>>,
}

/// One service's running span count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCount {
    pub service: String,
    pub spans: u64,
}

impl ServiceCounter {
    pub fn new(max: usize) -> ServiceCounter {
        ServiceCounter {
            max,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Adds the spans of every resource in `request`: one pass over resources and
    /// scopes, one lock per request.
    pub fn count(&self, request: &ExportTraceServiceRequest) {
        let mut counts = lock(&self.counts);
        for group in &request.resource_spans {
            let spans: usize = group.scope_spans.iter().map(|s| s.spans.len()).sum();
            let name = group
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .and_then(|value| match value {
                    Value::StringValue(s) => Some(s.as_str()),
                    _ => None,
                });
            self.add(&mut counts, name, spans);
        }
    }

    /// [`ServiceCounter::count`] on a request still encoded: reads the resources'
    /// `service.name` and counts spans without decoding anything else.
    pub fn count_encoded(&self, request: &[u8]) {
        let mut counts = lock(&self.counts);
        for group in wire::delimited(request, RESOURCE_SPANS) {
            let spans: usize = wire::delimited(group, SCOPE_SPANS)
                .map(|scope| wire::delimited(scope, SPANS).count())
                .sum();
            let name = wire::delimited(group, RESOURCE)
                .last()
                .and_then(encoded_service_name);
            self.add(&mut counts, name, spans);
        }
    }

    fn add(&self, counts: &mut HashMap<String, u64>, name: Option<&str>, spans: usize) {
        if spans == 0 {
            return;
        }
        let name = name.unwrap_or(UNKNOWN);
        let key = if counts.contains_key(name) || counts.len() < self.max {
            name
        } else {
            OTHER
        };
        match counts.get_mut(key) {
            Some(count) => *count += spans as u64,
            None => {
                counts.insert(key.to_string(), spans as u64);
            }
        }
    }

    /// The `n` services with most spans, most first (ties by name).
    pub fn top(&self, n: usize) -> Vec<ServiceCount> {
        let counts = lock(&self.counts);
        let mut all: Vec<ServiceCount> = counts
            .iter()
            .map(|(service, spans)| ServiceCount {
                service: service.clone(),
                spans: *spans,
            })
            .collect();
        all.sort_by(|a, b| b.spans.cmp(&a.spans).then(a.service.cmp(&b.service)));
        all.truncate(n);
        all
    }
}
