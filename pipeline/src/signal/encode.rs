//! Encoding export requests with each item's length computed once.
//!
//! prost writes a nested message as tag, length, body, and gets the length by walking the
//! body, at every level: a span of an `ExportTraceServiceRequest` is walked for the
//! request's length, its resource's, its scope's and its own before it is written, four
//! times. Here the top three levels (request, resource, scope) are written by hand from
//! lengths gathered in one walk, and each item (span, metric, log record) is sized once
//! and written by prost. The bytes are the same as prost's (a test checks every signal).

use bytes::BufMut;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message as _;

use super::{Held, Payload};

/// `resource_*` (field 1 of every export request), `resource`/`scope` (field 1),
/// `scope_*`/items (field 2) and `schema_url` (field 3) in the OTLP messages.
const REQUEST_RESOURCES: u32 = 1;
const RESOURCE_OR_SCOPE: u32 = 1;
const CHILDREN: u32 = 2;
const SCHEMA_URL: u32 = 3;

/// A resource-level message: `ResourceSpans`, `ResourceMetrics`, `ResourceLogs`.
trait ResourceLevel {
    type Scope: ScopeLevel;
    fn resource(&self) -> Option<&Resource>;
    fn scopes(&self) -> &[Self::Scope];
    fn schema_url(&self) -> &str;
}

/// A scope-level message: `ScopeSpans`, `ScopeMetrics`, `ScopeLogs`.
trait ScopeLevel {
    type Item: prost::Message;
    fn scope(&self) -> Option<&InstrumentationScope>;
    fn items(&self) -> &[Self::Item];
    fn schema_url(&self) -> &str;
}

macro_rules! levels {
    ($resource:ty, $scopes:ident, $scope:ty, $items:ident) => {
        impl ResourceLevel for $resource {
            type Scope = $scope;
            fn resource(&self) -> Option<&Resource> {
                self.resource.as_ref()
            }
            fn scopes(&self) -> &[$scope] {
                &self.$scopes
            }
            fn schema_url(&self) -> &str {
                &self.schema_url
            }
        }
        impl ScopeLevel for $scope {
            type Item = <$scope as ItemsOf>::Item;
            fn scope(&self) -> Option<&InstrumentationScope> {
                self.scope.as_ref()
            }
            fn items(&self) -> &[Self::Item] {
                &self.$items
            }
            fn schema_url(&self) -> &str {
                &self.schema_url
            }
        }
    };
}

/// Names each scope level's item type for the macro above.
trait ItemsOf {
    type Item: prost::Message;
}
impl ItemsOf for ScopeSpans {
    type Item = opentelemetry_proto::tonic::trace::v1::Span;
}
impl ItemsOf for ScopeMetrics {
    type Item = opentelemetry_proto::tonic::metrics::v1::Metric;
}
impl ItemsOf for ScopeLogs {
    type Item = opentelemetry_proto::tonic::logs::v1::LogRecord;
}

levels!(ResourceSpans, scope_spans, ScopeSpans, spans);
levels!(ResourceMetrics, scope_metrics, ScopeMetrics, metrics);
levels!(ResourceLogs, scope_logs, ScopeLogs, log_records);

/// A length-delimited field's size: key, length prefix and body.
fn delimited_len(tag: u32, body: usize) -> usize {
    key_len(tag) + encoded_len_varint(body as u64) + body
}

fn string_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        delimited_len(tag, value.len())
    }
}

fn optional_len(tag: u32, message: Option<&impl prost::Message>) -> usize {
    message.map_or(0, |m| delimited_len(tag, m.encoded_len()))
}

fn write_delimited(tag: u32, len: usize, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// A proto3 string: left out when empty, as prost does.
fn write_string(tag: u32, value: &str, buf: &mut impl BufMut) {
    if !value.is_empty() {
        write_delimited(tag, value.len(), buf);
        buf.put_slice(value.as_bytes());
    }
}

/// The lengths of every resource, scope and item, in the order they are written: each
/// resource's length, then per scope its length followed by its items' lengths.
fn sizes<R: ResourceLevel>(resources: &[R], lens: &mut Vec<usize>) {
    for resource in resources {
        let at = lens.len();
        lens.push(0);
        let mut body = optional_len(RESOURCE_OR_SCOPE, resource.resource())
            + string_len(SCHEMA_URL, resource.schema_url());
        for scope in resource.scopes() {
            let scope_at = lens.len();
            lens.push(0);
            let mut scope_body = optional_len(RESOURCE_OR_SCOPE, scope.scope())
                + string_len(SCHEMA_URL, scope.schema_url());
            for item in scope.items() {
                let len = item.encoded_len();
                lens.push(len);
                scope_body += delimited_len(CHILDREN, len);
            }
            lens[scope_at] = scope_body;
            body += delimited_len(CHILDREN, scope_body);
        }
        lens[at] = body;
    }
}

fn write<R: ResourceLevel>(resources: &[R], lens: &[usize], buf: &mut impl BufMut) {
    let mut lens = lens.iter().copied();
    let mut next = || lens.next().expect("sized before writing");
    for resource in resources {
        write_delimited(REQUEST_RESOURCES, next(), buf);
        if let Some(r) = resource.resource() {
            prost::encoding::message::encode(RESOURCE_OR_SCOPE, r, buf);
        }
        for scope in resource.scopes() {
            write_delimited(CHILDREN, next(), buf);
            if let Some(s) = scope.scope() {
                prost::encoding::message::encode(RESOURCE_OR_SCOPE, s, buf);
            }
            for item in scope.items() {
                write_delimited(CHILDREN, next(), buf);
                item.encode_raw(buf);
            }
            write_string(SCHEMA_URL, scope.schema_url(), buf);
        }
        write_string(SCHEMA_URL, resource.schema_url(), buf);
    }
}

/// Writes the export requests' fields one after the other (the encoding of their merge),
/// sizing every item once; a request still encoded is copied as it is.
pub fn encode_requests<'a>(requests: impl Iterator<Item = &'a Held>, buf: &mut impl BufMut) {
    let mut lens = Vec::new();
    for request in requests {
        let payload = match request {
            Held::Decoded(payload) => payload,
            Held::Encoded(encoded) => {
                buf.put_slice(encoded.bytes());
                continue;
            }
        };
        lens.clear();
        match payload {
            Payload::Traces(r) => {
                sizes(&r.resource_spans, &mut lens);
                write(&r.resource_spans, &lens, buf);
            }
            Payload::Metrics(r) => {
                sizes(&r.resource_metrics, &mut lens);
                write(&r.resource_metrics, &lens, buf);
            }
            Payload::Logs(r) => {
                sizes(&r.resource_logs, &mut lens);
                write(&r.resource_logs, &lens, buf);
            }
        }
    }
}

#[cfg(test)]
mod tests;
