//! What prost and `decode::reject_invalid` refuse that the limits do not see, checked field
//! by field as the walk reads them (no second pass, nothing allocated), for
//! [`Shape::forwardable`](super::Shape::forwardable): the wire type of every known field,
//! UTF-8 of strings, varints that fit 64 bits, packed runs made of whole elements, prost's
//! recursion limit, and the ids of spans and log records. Also, so that `Shape::items` is
//! exact when forwardable: a metric whose data oneof changes kind (prost keeps the last).
//!
//! The table is the code opentelemetry-proto 0.33 generates (`src/proto/tonic/*.rs`) for
//! every message reachable from the three export requests. A field number prost does not
//! know it skips whatever its wire type, so it needs no entry.

use super::{next_field, varint, Msg, Point, RawField};

/// Message nesting (the request is level 0) from which the bytes are not forwardable.
/// prost's recursion limit (100) refuses a message at level 101, and any message or unknown
/// field inside one at level 100; stopping at 100 is simpler and never hit by real requests.
pub(super) const MAX_LEVEL: usize = 100;

/// How prost decodes a field: which wire types it takes and what it checks in the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
    /// A message the walk enters (optional, repeated or in a oneof): length-delimited.
    Message,
    /// A message the walk does not enter (it holds nothing the limits count): checked here.
    Leaf(Msg),
    /// `string`, alone or as one element of a repeated one: length-delimited UTF-8.
    Text,
    /// `bytes`: length-delimited, anything.
    Bytes,
    /// `bytes` that `reject_invalid` looks at.
    Id(Id),
    /// int32, int64, uint32, sint32, bool and enums: one varint.
    Varint,
    /// fixed64, sfixed64 and double (also `optional double`): 8 bytes.
    Fixed64,
    /// fixed32: 4 bytes.
    Fixed32,
    /// repeated uint64: one varint, or a packed run of whole varints.
    Varints,
    /// repeated fixed64 / double: 8 bytes, or a packed run of a multiple of 8 bytes.
    Fixed64s,
}

/// The ids `reject_invalid` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Id {
    Trace,
    Span,
    Parent,
}

/// What prost decodes field `number` of `msg` as; `None` for a number it skips.
#[inline(always)]
pub(super) fn kind(msg: Msg, number: u64) -> Option<FieldKind> {
    use FieldKind::{Bytes, Fixed64, Message, Text, Varint};
    Some(match (msg, number) {
        (Msg::Request(_), 1) => Message,
        // Resource{Spans,Metrics,Logs} and Scope{Spans,Metrics,Logs}: resource or scope,
        // the list below it, schema_url.
        (
            Msg::ResourceSpans
            | Msg::ResourceMetrics
            | Msg::ResourceLogs
            | Msg::ScopeSpans
            | Msg::ScopeMetrics
            | Msg::ScopeLogs,
            n,
        ) => match n {
            1 | 2 => Message,
            3 => Text,
            _ => return None,
        },
        // Resource: attributes, dropped_attributes_count, entity_refs.
        (Msg::Resource, 1 | 3) => Message,
        (Msg::Resource, 2) => Varint,
        // InstrumentationScope: name, version, attributes, dropped_attributes_count.
        (Msg::Scope, 1 | 2) => Text,
        (Msg::Scope, 3) => Message,
        (Msg::Scope, 4) => Varint,
        // EntityRef: schema_url, type, id_keys and description_keys (repeated strings).
        (Msg::EntityRef, 1..=4) => Text,
        // KeyValue: key, value, key_strindex.
        (Msg::KeyValue, 1) => Text,
        (Msg::KeyValue, 2) => Message,
        (Msg::KeyValue, 3) => Varint,
        // AnyValue's oneof: string, bool, int, double, array, kvlist, bytes, string_strindex.
        (Msg::AnyValue, 1) => Text,
        (Msg::AnyValue, 2 | 3 | 8) => Varint,
        (Msg::AnyValue, 4) => Fixed64,
        (Msg::AnyValue, 5 | 6) => Message,
        (Msg::AnyValue, 7) => Bytes,
        (Msg::ArrayValue | Msg::KvList, 1) => Message,
        (Msg::Span | Msg::Event | Msg::Link | Msg::Status, _) => trace_kind(msg, number)?,
        (Msg::LogRecord, _) => log_kind(number)?,
        (Msg::Metric | Msg::Points(_) | Msg::Buckets | Msg::Quantile, _) => {
            metric_kind(msg, number)?
        }
        (Msg::Point(point), _) => point_kind(point, number)?,
        (Msg::Exemplar, _) => exemplar_kind(number)?,
        _ => return None,
    })
}

fn trace_kind(msg: Msg, number: u64) -> Option<FieldKind> {
    use FieldKind::{Bytes, Fixed32, Fixed64, Id, Leaf, Message, Text, Varint};
    Some(match (msg, number) {
        (Msg::Span, 1) => Id(self::Id::Trace),
        (Msg::Span, 2) => Id(self::Id::Span),
        (Msg::Span, 4) => Id(self::Id::Parent),
        // trace_state, name.
        (Msg::Span, 3 | 5) => Text,
        // kind, dropped attribute / event / link counts.
        (Msg::Span, 6 | 10 | 12 | 14) => Varint,
        // start and end time.
        (Msg::Span, 7 | 8) => Fixed64,
        // attributes, events, links.
        (Msg::Span, 9 | 11 | 13) => Message,
        (Msg::Span, 15) => Leaf(Msg::Status),
        (Msg::Span, 16) => Fixed32,
        // Event: time, name, attributes, dropped_attributes_count.
        (Msg::Event, 1) => Fixed64,
        (Msg::Event, 2) => Text,
        (Msg::Event, 3) => Message,
        (Msg::Event, 4) => Varint,
        // Link: trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags.
        (Msg::Link, 1 | 2) => Bytes,
        (Msg::Link, 3) => Text,
        (Msg::Link, 4) => Message,
        (Msg::Link, 5) => Varint,
        (Msg::Link, 6) => Fixed32,
        // Status: message, code.
        (Msg::Status, 2) => Text,
        (Msg::Status, 3) => Varint,
        _ => return None,
    })
}

fn log_kind(number: u64) -> Option<FieldKind> {
    use FieldKind::{Fixed32, Fixed64, Id, Message, Text, Varint};
    Some(match number {
        // time, observed time.
        1 | 11 => Fixed64,
        // severity_number, dropped_attributes_count.
        2 | 7 => Varint,
        // severity_text, event_name.
        3 | 12 => Text,
        // body, attributes.
        5 | 6 => Message,
        8 => Fixed32,
        9 => Id(self::Id::Trace),
        10 => Id(self::Id::Span),
        _ => return None,
    })
}

fn metric_kind(msg: Msg, number: u64) -> Option<FieldKind> {
    use FieldKind::{Fixed64, Message, Text, Varint, Varints};
    Some(match (msg, number) {
        // name, description, unit.
        (Msg::Metric, 1..=3) => Text,
        // metadata, and the data oneof: gauge, sum, histogram, exponential histogram,
        // summary.
        (Msg::Metric, 5 | 7 | 9 | 10 | 11 | 12) => Message,
        (Msg::Points(_), 1) => Message,
        // aggregation_temporality, and a sum's is_monotonic. Gauge and Sum are both
        // `Points(Number)`: a gauge's unknown fields 2 and 3 are held to a sum's types,
        // which only makes odd gauges not forwardable.
        (Msg::Points(Point::Number), 2 | 3) => Varint,
        (Msg::Points(Point::Histogram | Point::Exponential), 2) => Varint,
        // Buckets: offset (sint32), bucket_counts (repeated uint64).
        (Msg::Buckets, 1) => Varint,
        (Msg::Buckets, 2) => Varints,
        // ValueAtQuantile: quantile, value.
        (Msg::Quantile, 1 | 2) => Fixed64,
        _ => return None,
    })
}

fn point_kind(point: Point, number: u64) -> Option<FieldKind> {
    use FieldKind::{Fixed64, Fixed64s, Message, Varint};
    Some(match (point, number) {
        // Every point: start time, time. All but number points: count, sum (a double).
        (_, 2 | 3) | (Point::Histogram | Point::Exponential | Point::Summary, 4 | 5) => Fixed64,
        // NumberDataPoint: as_double, exemplars, as_int (sfixed64), attributes, flags.
        (Point::Number, 4 | 6) => Fixed64,
        (Point::Number, 5 | 7) => Message,
        (Point::Number, 8) => Varint,
        // HistogramDataPoint: bucket_counts, explicit_bounds, exemplars, attributes, flags,
        // min, max.
        (Point::Histogram, 6 | 7) => Fixed64s,
        (Point::Histogram, 8 | 9) => Message,
        (Point::Histogram, 10) => Varint,
        (Point::Histogram, 11 | 12) => Fixed64,
        // ExponentialHistogramDataPoint: attributes, scale (sint32), zero_count, positive,
        // negative, flags, exemplars, min, max, zero_threshold.
        (Point::Exponential, 1 | 8 | 9 | 11) => Message,
        (Point::Exponential, 6 | 10) => Varint,
        (Point::Exponential, 7 | 12..=14) => Fixed64,
        // SummaryDataPoint: quantile_values, attributes, flags.
        (Point::Summary, 6 | 7) => Message,
        (Point::Summary, 8) => Varint,
        _ => return None,
    })
}

fn exemplar_kind(number: u64) -> Option<FieldKind> {
    Some(match number {
        // time, as_double, as_int (sfixed64).
        2 | 3 | 6 => FieldKind::Fixed64,
        // span_id, trace_id: not checked by `reject_invalid`.
        4 | 5 => FieldKind::Bytes,
        7 => FieldKind::Message,
        _ => return None,
    })
}

/// Whether prost takes `raw` as a field of `kind` (its key and varints fitting aside: see
/// `RawField::strict`). A message's own fields are checked when the walk enters it.
#[inline(always)]
pub(super) fn accepts(kind: FieldKind, raw: &RawField<'_>) -> bool {
    use FieldKind::{Bytes, Fixed32, Fixed64, Fixed64s, Id, Leaf, Message, Text, Varint, Varints};
    match (kind, raw.wire_type) {
        (Message | Bytes | Id(_), 2) => true,
        (Text, 2) => is_utf8(raw.value),
        (Leaf(msg), 2) => leaf(msg, raw.value),
        (Varint | Varints, 0) | (Fixed64 | Fixed64s, 1) | (Fixed32, 5) => true,
        (Varints, 2) => packed_varints(raw.value),
        (Fixed64s, 2) => raw.value.chunks_exact(8).remainder().is_empty(),
        _ => false,
    }
}

/// Whether a string field's bytes are UTF-8.
#[inline(always)]
pub(super) fn is_utf8(bytes: &[u8]) -> bool {
    // Most keys and names are ASCII: a word-at-a-time check, inlined, before the full one.
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// A message of scalar fields the walk does not enter, checked on its own. Anything the
/// walk would call malformed is simply not forwardable here, so the walk's errors stay as
/// they were. (Status, the only leaf, sits at level 4: far from the recursion limit.)
fn leaf(msg: Msg, mut body: &[u8]) -> bool {
    while !body.is_empty() {
        let Ok(raw) = next_field(&mut body) else {
            return false;
        };
        let ok = match kind(msg, raw.number) {
            // A leaf holding a message would need that message walked.
            Some(FieldKind::Message | FieldKind::Leaf(_)) => false,
            Some(kind) => accepts(kind, &raw),
            None => true,
        };
        if !raw.strict || !ok {
            return false;
        }
    }
    true
}

/// A packed run of varints: prost reads each one whole, inside the run, fitting 64 bits.
fn packed_varints(mut body: &[u8]) -> bool {
    while !body.is_empty() {
        match varint(&mut body) {
            Ok((_, bytes)) if fits(bytes) => {}
            _ => return false,
        }
    }
    true
}

/// Whether a varint's bytes fit 64 bits: prost refuses a 10th byte over 1 (the walk drops
/// the overflowing bits).
pub(super) fn fits(varint: &[u8]) -> bool {
    varint.get(9).is_none_or(|&last| last < 2)
}

/// What the fields of one message leave for the checks at its end. In protobuf the last
/// occurrence of a non-repeated field wins, so ids are checked once the item is read.
#[derive(Default)]
pub(super) struct Seen<'a> {
    trace: &'a [u8],
    span: &'a [u8],
    parent: &'a [u8],
    /// The last field of a metric's data oneof (gauge, sum, ...), and whether another one
    /// came before it: prost then keeps only the last, so the points the walk counted in
    /// the others would not all be there.
    data: u64,
    data_replaced: bool,
}

impl<'a> Seen<'a> {
    pub(super) fn note(&mut self, msg: Msg, number: u64, kind: Option<FieldKind>, value: &'a [u8]) {
        match kind {
            Some(FieldKind::Id(Id::Trace)) => self.trace = value,
            Some(FieldKind::Id(Id::Span)) => self.span = value,
            Some(FieldKind::Id(Id::Parent)) => self.parent = value,
            _ if msg == Msg::Metric && matches!(number, 5 | 7 | 9 | 10 | 11) => {
                self.data_replaced |= self.data != 0 && self.data != number;
                self.data = number;
            }
            _ => {}
        }
    }

    /// What `decode::reject_invalid` requires of a span or a log record, and for a metric
    /// that `Shape::items` counted only points prost keeps.
    pub(super) fn valid(&self, msg: Msg) -> bool {
        let nonzero = |id: &[u8]| id.iter().any(|&b| b != 0);
        match msg {
            Msg::Span => {
                self.trace.len() == 16
                    && nonzero(self.trace)
                    && self.span.len() == 8
                    && nonzero(self.span)
                    && matches!(self.parent.len(), 0 | 8)
            }
            Msg::LogRecord => {
                matches!(self.trace.len(), 0 | 16) && matches!(self.span.len(), 0 | 8)
            }
            Msg::Metric => !self.data_replaced,
            _ => true,
        }
    }
}
