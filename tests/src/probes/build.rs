//! The probes' request bodies, written as protobuf wire bytes directly so that building
//! millions of items costs the prober no decoded structs.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// A length-delimited field `number` holding `inner`.
fn field(number: u32, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len() + 12);
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(inner.len() as u64, &mut out);
    out.extend_from_slice(inner);
    out
}

/// A trace request around one scope's span bytes.
fn request(spans: &[u8]) -> Vec<u8> {
    field(1, &field(2, spans))
}

/// `count` empty spans: two bytes each on the wire.
pub fn empty_spans(count: usize) -> Vec<u8> {
    let spans: Vec<u8> = std::iter::repeat_n([0x12_u8, 0x00], count)
        .flatten()
        .collect();
    request(&spans)
}

fn valid_ids() -> Vec<u8> {
    let mut span = field(1, &[7; 16]);
    span.extend(field(2, &[9; 8]));
    span
}

/// One span with `count` attributes (5-byte keys, no value): 9 bytes each.
pub fn many_attributes(count: usize) -> Vec<u8> {
    let attribute = field(9, &field(1, b"attrx"));
    let mut span = valid_ids();
    span.reserve(attribute.len() * count);
    for _ in 0..count {
        span.extend_from_slice(&attribute);
    }
    request(&field(2, &span))
}

/// One span whose attribute value nests `levels` arrays.
pub fn deep_protobuf(levels: usize) -> Vec<u8> {
    let mut value = field(1, b"leaf");
    for _ in 0..levels {
        // AnyValue { array_value (5): ArrayValue { values (1): [value] } }
        value = field(5, &field(1, &value));
    }
    let mut attribute = field(1, b"deep");
    attribute.extend(field(2, &value));
    let mut span = valid_ids();
    span.extend(field(9, &attribute));
    request(&field(2, &span))
}

/// The same as OTLP/JSON.
pub fn deep_json(levels: usize) -> String {
    let mut value = String::from(r#"{"stringValue":"leaf"}"#);
    for _ in 0..levels {
        value = format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#);
    }
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0707070707070707070707070707070a","spanId":"0909090909090909","name":"deep","attributes":[{{"key":"deep","value":{value}}}]}}]}}]}}]}}"#
    )
}

/// What a normal client sends: ten small spans.
pub fn normal_traces() -> Vec<u8> {
    let spans = (0..10u8)
        .map(|i| Span {
            trace_id: vec![i + 1; 16],
            span_id: vec![i + 1; 8],
            name: format!("normal-{i}"),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}
