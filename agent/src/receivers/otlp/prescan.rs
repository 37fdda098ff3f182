//! A pass over an export request's protobuf bytes before decoding: it counts items
//! (spans, data points, log records), list lengths and value nesting, and estimates the
//! bytes the decoded request will take, without allocating. A request that breaks a
//! limit ([`Limits`]) is refused here, and the estimate is what the memory budget is
//! charged before decoding, so a small request that would inflate (9 million empty spans
//! in 18 MB) is refused instead of decoded.
//!
//! The estimate is an upper bound of what prost allocates: every element of a repeated
//! field costs its struct's `size_of` twice (a `Vec` grows by doubling), packed numbers
//! their decoded width twice, and strings and bytes their encoded length.
//!
//! The same pass also checks what prost and `decode::reject_invalid` would refuse
//! ([`verify`]), so the caller knows whether the bytes can be forwarded undecoded
//! ([`Shape::forwardable`]).

use std::mem::size_of;

use opentelemetry_proto::tonic::common::v1::{AnyValue, EntityRef, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogramDataPoint,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::Signal;

mod json;
mod steps;
mod verify;

pub use json::prescan_json;
use steps::Step;
use verify::Seen;

/// What one request may hold; each is checked before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Spans, data points or log records in one request.
    pub max_items: usize,
    /// Elements of one attribute list (attributes of a resource, scope, item, event, link
    /// or exemplar) and of one array or key-value list value.
    pub max_attributes: usize,
    /// `AnyValue` nesting: an attribute's value is level 1, a value inside an array or
    /// key-value list one level more.
    pub max_depth: usize,
}

/// What the pass found in a request within the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    pub items: usize,
    /// Estimated heap and struct bytes of the decoded request (see the module docs).
    pub decoded_bytes: usize,
    /// True when the bytes are forwardable as they are: prost decodes them without error into
    /// the export request of `signal`, and no item would be rejected by
    /// `decode::reject_invalid` (spans need a 16-byte non-zero trace_id, an 8-byte non-zero
    /// span_id, an empty or 8-byte parent_span_id; log records an empty or 16-byte trace_id and
    /// an empty or 8-byte span_id). False means "not known": the caller decodes as before.
    /// When true, `items` is exactly what the decoded request holds.
    pub forwardable: bool,
}

/// Why a request is refused before decoding. The text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("the request holds more than {limit} {what} (limit per request)")]
    TooManyItems { what: &'static str, limit: usize },
    #[error("an attribute list or value list holds more than {limit} elements (limit per list)")]
    TooManyAttributes { limit: usize },
    #[error("attribute values are nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
}

/// The messages of the three export requests, as far as their allocations matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Msg {
    Request(Signal),
    ResourceSpans,
    ResourceMetrics,
    ResourceLogs,
    Resource,
    ScopeSpans,
    ScopeMetrics,
    ScopeLogs,
    Scope,
    Span,
    Event,
    Link,
    Metric,
    /// Gauge, Sum, Histogram, ExponentialHistogram or Summary: a list of points.
    Points(Point),
    Point(Point),
    Buckets,
    Quantile,
    Exemplar,
    LogRecord,
    /// A span's status: only checked (see `verify`), never walked.
    Status,
    EntityRef,
    KeyValue,
    AnyValue,
    ArrayValue,
    KvList,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Point {
    Number,
    Histogram,
    Exponential,
    Summary,
}

/// What a field of a message holds, for the fields that matter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    /// A message inlined in its parent (optional or oneof).
    One(Msg),
    /// A repeated message: each element is allocated.
    Many(Msg),
    /// Packed (or repeated) varints: up to 8 decoded bytes per encoded byte.
    Varints,
    /// Packed fixed64 / double: as many decoded bytes as encoded.
    Fixed,
    /// Repeated strings: a `String` each.
    Strings,
}

pub(super) fn field(msg: Msg, number: u64) -> Option<Field> {
    use Field::{Fixed, Many, One, Strings, Varints};
    Some(match (msg, number) {
        (Msg::Request(Signal::Traces), 1) => Many(Msg::ResourceSpans),
        (Msg::Request(Signal::Metrics), 1) => Many(Msg::ResourceMetrics),
        (Msg::Request(Signal::Logs), 1) => Many(Msg::ResourceLogs),
        (Msg::ResourceSpans | Msg::ResourceMetrics | Msg::ResourceLogs, 1) => One(Msg::Resource),
        (Msg::ResourceSpans, 2) => Many(Msg::ScopeSpans),
        (Msg::ResourceMetrics, 2) => Many(Msg::ScopeMetrics),
        (Msg::ResourceLogs, 2) => Many(Msg::ScopeLogs),
        (Msg::Resource, 1) | (Msg::Scope, 3) => Many(Msg::KeyValue),
        (Msg::Resource, 3) => Many(Msg::EntityRef),
        (Msg::EntityRef, 3 | 4) => Strings,
        (Msg::ScopeSpans | Msg::ScopeMetrics | Msg::ScopeLogs, 1) => One(Msg::Scope),
        (Msg::ScopeSpans, 2) => Many(Msg::Span),
        (Msg::ScopeMetrics, 2) => Many(Msg::Metric),
        (Msg::ScopeLogs, 2) => Many(Msg::LogRecord),
        (Msg::Span, 9) | (Msg::Event, 3) | (Msg::Link, 4) => Many(Msg::KeyValue),
        (Msg::Span, 11) => Many(Msg::Event),
        (Msg::Span, 13) => Many(Msg::Link),
        (Msg::Metric, 12) => Many(Msg::KeyValue),
        (Msg::Metric, 5 | 7) => One(Msg::Points(Point::Number)),
        (Msg::Metric, 9) => One(Msg::Points(Point::Histogram)),
        (Msg::Metric, 10) => One(Msg::Points(Point::Exponential)),
        (Msg::Metric, 11) => One(Msg::Points(Point::Summary)),
        (Msg::Points(point), 1) => Many(Msg::Point(point)),
        (Msg::Point(Point::Number), 7)
        | (Msg::Point(Point::Histogram), 9)
        | (Msg::Point(Point::Exponential), 1)
        | (Msg::Point(Point::Summary), 7)
        | (Msg::Exemplar, 7) => Many(Msg::KeyValue),
        (Msg::Point(Point::Number), 5)
        | (Msg::Point(Point::Histogram), 8)
        | (Msg::Point(Point::Exponential), 11) => Many(Msg::Exemplar),
        (Msg::Point(Point::Histogram), 6 | 7) => Fixed,
        (Msg::Point(Point::Exponential), 8 | 9) => One(Msg::Buckets),
        (Msg::Buckets, 2) => Varints,
        (Msg::Point(Point::Summary), 6) => Many(Msg::Quantile),
        (Msg::LogRecord, 5) | (Msg::KeyValue, 2) => One(Msg::AnyValue),
        (Msg::LogRecord, 6) => Many(Msg::KeyValue),
        (Msg::AnyValue, 5) => One(Msg::ArrayValue),
        (Msg::AnyValue, 6) => One(Msg::KvList),
        (Msg::ArrayValue, 1) => Many(Msg::AnyValue),
        (Msg::KvList, 1) => Many(Msg::KeyValue),
        _ => return None,
    })
}

/// Bytes one element of a repeated message field takes in its `Vec`.
fn element_size(msg: Msg) -> usize {
    match msg {
        Msg::ResourceSpans => size_of::<ResourceSpans>(),
        Msg::ResourceMetrics => size_of::<ResourceMetrics>(),
        Msg::ResourceLogs => size_of::<ResourceLogs>(),
        Msg::ScopeSpans => size_of::<ScopeSpans>(),
        Msg::ScopeMetrics => size_of::<ScopeMetrics>(),
        Msg::ScopeLogs => size_of::<ScopeLogs>(),
        Msg::Span => size_of::<Span>(),
        Msg::Event => size_of::<Event>(),
        Msg::Link => size_of::<Link>(),
        Msg::Metric => size_of::<Metric>(),
        Msg::Point(Point::Number) => size_of::<NumberDataPoint>(),
        Msg::Point(Point::Histogram) => size_of::<HistogramDataPoint>(),
        Msg::Point(Point::Exponential) => size_of::<ExponentialHistogramDataPoint>(),
        Msg::Point(Point::Summary) => size_of::<SummaryDataPoint>(),
        Msg::Quantile => size_of::<ValueAtQuantile>(),
        Msg::Exemplar => size_of::<Exemplar>(),
        Msg::LogRecord => size_of::<LogRecord>(),
        Msg::EntityRef => size_of::<EntityRef>(),
        Msg::KeyValue => size_of::<KeyValue>(),
        Msg::AnyValue => size_of::<AnyValue>(),
        // Inlined in their parents, never repeated.
        _ => 0,
    }
}

/// The item kind a request of `signal` counts, in the words of the limit's message.
pub fn item_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "spans",
        Signal::Metrics => "data points",
        Signal::Logs => "log records",
    }
}

/// Walks `bytes` as an export request of `signal`, stopping at the first broken limit.
pub fn prescan(signal: Signal, bytes: &[u8], limits: &Limits) -> Result<Shape, Violation> {
    walk(signal, bytes, limits, true)
}

/// [`prescan`] without the forwarding checks (`forwardable` stays false), for a path that
/// decodes anyway: the checks would be work for nothing.
pub fn prescan_limits(signal: Signal, bytes: &[u8], limits: &Limits) -> Result<Shape, Violation> {
    walk(signal, bytes, limits, false)
}

fn walk(signal: Signal, bytes: &[u8], limits: &Limits, verify: bool) -> Result<Shape, Violation> {
    let mut scan = Scan::new(signal, bytes, limits);
    // Cleared by the walk at the first thing prost or `reject_invalid` would refuse; while
    // false, nothing is verified.
    scan.shape.forwardable = verify;
    scan.message(Msg::Request(signal), bytes, 0, 0)?;
    Ok(scan.shape)
}

pub(super) struct Scan<'l> {
    pub(super) limits: &'l Limits,
    pub(super) signal: Signal,
    pub(super) shape: Shape,
}

impl<'l> Scan<'l> {
    pub(super) fn new(signal: Signal, bytes: &[u8], limits: &'l Limits) -> Scan<'l> {
        Scan {
            limits,
            signal,
            shape: Shape {
                items: 0,
                decoded_bytes: bytes.len(),
                forwardable: false,
            },
        }
    }

    /// One message's fields; `depth` is the `AnyValue` nesting it sits in, `level` its
    /// message nesting (the request is 0).
    fn message(
        &mut self,
        msg: Msg,
        mut buf: &[u8],
        depth: usize,
        level: usize,
    ) -> Result<(), Violation> {
        let mut list_len = 0usize;
        let mut seen = Seen::default();
        while let Some(&first) = buf.first() {
            let Some(step) = steps::step(msg, first) else {
                let raw = next_field(&mut buf)?;
                self.general(msg, raw, &mut seen, &mut list_len, depth, level)?;
                continue;
            };
            // A step is only ever taken for a one-byte key.
            buf = &buf[1..];
            match step {
                Step::SkipVarint => {
                    let (_, bytes) = varint(&mut buf)?;
                    self.require(verify::fits(bytes));
                }
                Step::SkipFixed64 => _ = take(&mut buf, 8)?,
                Step::SkipFixed32 => _ = take(&mut buf, 4)?,
                Step::SkipLen { utf8 } => {
                    let (body, len_bytes) = length_delimited(&mut buf)?;
                    self.require(verify::fits(len_bytes));
                    if utf8 && self.shape.forwardable {
                        self.require(verify::is_utf8(body));
                    }
                }
                Step::Child(child) | Step::Element(child) => {
                    let (body, len_bytes) = length_delimited(&mut buf)?;
                    self.require(verify::fits(len_bytes));
                    if let Step::Element(_) = step {
                        self.element(child, &mut list_len)?;
                    }
                    self.child(child, body, depth, level)?;
                }
            }
        }
        self.require(seen.valid(msg));
        Ok(())
    }

    /// Clears `forwardable` unless `ok`: something prost or `reject_invalid` would refuse.
    #[inline(always)]
    fn require(&mut self, ok: bool) {
        if !ok {
            self.shape.forwardable = false;
        }
    }

    /// A field the step table leaves to the general path: judged by `verify`, then
    /// counted, charged or entered by what `field` says of it.
    fn general<'a>(
        &mut self,
        msg: Msg,
        raw: RawField<'a>,
        seen: &mut Seen<'a>,
        list_len: &mut usize,
        depth: usize,
        level: usize,
    ) -> Result<(), Violation> {
        self.verify(msg, &raw, seen);
        let Some(kind) = field(msg, raw.number) else {
            return Ok(());
        };
        let packed = raw.wire_type == 2;
        match kind {
            Field::One(child) | Field::Many(child) => {
                if !packed {
                    return Err(Violation::Malformed(
                        "a message field of the wrong wire type",
                    ));
                }
                if let Field::Many(_) = kind {
                    self.element(child, list_len)?;
                }
                self.child(child, raw.value, depth, level)?;
            }
            Field::Varints => {
                let count = if packed {
                    raw.value.iter().filter(|b| **b < 0x80).count()
                } else {
                    1
                };
                self.charge(count.saturating_mul(2 * size_of::<u64>()));
            }
            Field::Fixed => {
                // A varint value counts nothing here, as it always has.
                let len = if raw.wire_type == 0 {
                    0
                } else {
                    raw.value.len()
                };
                self.charge(len.saturating_mul(2));
            }
            Field::Strings => self.charge(2 * size_of::<String>()),
        }
        Ok(())
    }

    /// Clears `forwardable` if prost would refuse this field as it is, and notes in `seen`
    /// what the message's end is checked for.
    #[inline(always)]
    fn verify<'a>(&mut self, msg: Msg, raw: &RawField<'a>, seen: &mut Seen<'a>) {
        if !self.shape.forwardable {
            return;
        }
        let kind = verify::kind(msg, raw.number);
        seen.note(msg, raw.number, kind, raw.value);
        if !raw.strict || !kind.is_none_or(|kind| verify::accepts(kind, raw)) {
            self.shape.forwardable = false;
        }
    }

    /// Counts and charges one element of a repeated field of the message being walked.
    pub(super) fn element(&mut self, child: Msg, list_len: &mut usize) -> Result<(), Violation> {
        self.charge(2 * element_size(child));
        if matches!(child, Msg::KeyValue | Msg::AnyValue) {
            *list_len += 1;
            if *list_len > self.limits.max_attributes {
                return Err(Violation::TooManyAttributes {
                    limit: self.limits.max_attributes,
                });
            }
        }
        if matches!(child, Msg::Span | Msg::LogRecord | Msg::Point(_)) {
            self.shape.items += 1;
            if self.shape.items > self.limits.max_items {
                return Err(Violation::TooManyItems {
                    what: item_name(self.signal),
                    limit: self.limits.max_items,
                });
            }
        }
        Ok(())
    }

    fn child(
        &mut self,
        child: Msg,
        body: &[u8],
        depth: usize,
        level: usize,
    ) -> Result<(), Violation> {
        let depth = if child == Msg::AnyValue {
            depth + 1
        } else {
            depth
        };
        if depth > self.limits.max_depth {
            return Err(Violation::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        let level = level + 1;
        if level >= verify::MAX_LEVEL {
            self.shape.forwardable = false;
        }
        self.message(child, body, depth, level)
    }

    pub(super) fn charge(&mut self, bytes: usize) {
        self.shape.decoded_bytes = self.shape.decoded_bytes.saturating_add(bytes);
    }
}

/// One field of a message as it is on the wire.
struct RawField<'a> {
    number: u64,
    wire_type: u8,
    /// The bytes of a varint, the 8 or 4 bytes of a fixed value, or a length-delimited body.
    value: &'a [u8],
    /// False when prost refuses the key or a varint here that the walk reads anyway: a key
    /// over 32 bits, or a 10-byte varint overflowing 64 bits.
    strict: bool,
}

// Inlined: returned through memory, the field's bytes cost two store-forwarding stalls
// per field (most of the walk's time in `benches/otlp_prescan.rs`).
#[inline(always)]
fn next_field<'a>(buf: &mut &'a [u8]) -> Result<RawField<'a>, Violation> {
    let (key, key_bytes) = varint(buf)?;
    let (number, wire_type) = (key >> 3, (key & 7) as u8);
    if number == 0 {
        return Err(Violation::Malformed("field number 0"));
    }
    let mut strict = key <= u64::from(u32::MAX) && verify::fits(key_bytes);
    let value = match wire_type {
        0 => {
            let (_, bytes) = varint(buf)?;
            strict &= verify::fits(bytes);
            bytes
        }
        1 => take(buf, 8)?,
        5 => take(buf, 4)?,
        2 => {
            let (body, len_bytes) = length_delimited(buf)?;
            strict &= verify::fits(len_bytes);
            body
        }
        _ => return Err(Violation::Malformed("unsupported wire type")),
    };
    Ok(RawField {
        number,
        wire_type,
        value,
        strict,
    })
}

/// A length-delimited value after its key: the body, and the bytes of its length.
#[inline(always)]
fn length_delimited<'a>(buf: &mut &'a [u8]) -> Result<(&'a [u8], &'a [u8]), Violation> {
    let (len, len_bytes) = varint(buf)?;
    let len = usize::try_from(len).map_err(|_| Violation::Malformed("length out of range"))?;
    Ok((take(buf, len)?, len_bytes))
}

#[inline(always)]
fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], Violation> {
    if buf.len() < len {
        return Err(Violation::Malformed(
            "a field runs past the end of its message",
        ));
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Ok(head)
}

/// A varint's value and its bytes. Up to 10 bytes are read and bits past 64 dropped (prost
/// refuses those, see [`verify::fits`]).
#[inline(always)]
fn varint<'a>(buf: &mut &'a [u8]) -> Result<(u64, &'a [u8]), Violation> {
    let mut value = 0u64;
    for (i, byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let (bytes, rest) = buf.split_at(i + 1);
            *buf = rest;
            return Ok((value, bytes));
        }
    }
    Err(Violation::Malformed("invalid varint"))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod verify_tests;
