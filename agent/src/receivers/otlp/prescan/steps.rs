//! The walk's fast path: for each message and each one-byte key (fields 1–15 with their
//! wire type), what [`field`](super::field) and [`verify::kind`](super::verify::kind) decide,
//! worked out once into a table. A field of an ordinary request then costs one table load
//! and one branch instead of a match on its wire type, two matches on its number and the
//! wire-type check (about half the walk's time, `benches/otlp_prescan.rs`).
//!
//! Only what needs no more than skipping, a UTF-8 check or entering a message is in the
//! table. Anything else (ids, packed numbers, the fields that charge estimates, a metric's
//! data oneof, a wrong wire type, field numbers from 16) has no step: it takes the walk's
//! general path, so both paths judge every field the same way.

use std::sync::LazyLock;

use sentinel_pipeline::Signal;

use super::verify::{self, FieldKind};
use super::{field, Field, Msg, Point};

/// What the walk does with a field whose key is one byte, when the table has a step for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// A varint nothing is counted for (an enum, a count, a bool, an unknown field).
    SkipVarint,
    /// 8 bytes (a timestamp, a double, an unknown fixed64).
    SkipFixed64,
    /// 4 bytes.
    SkipFixed32,
    /// A length-delimited field nothing is counted for; `utf8` if it must be UTF-8.
    SkipLen { utf8: bool },
    /// A message inlined in its parent, entered.
    Child(Msg),
    /// One element of a repeated message field: counted, charged, entered.
    Element(Msg),
}

/// Every `Msg`, in `index` order.
const MESSAGES: [Msg; 33] = [
    Msg::Request(Signal::Traces),
    Msg::Request(Signal::Metrics),
    Msg::Request(Signal::Logs),
    Msg::ResourceSpans,
    Msg::ResourceMetrics,
    Msg::ResourceLogs,
    Msg::Resource,
    Msg::ScopeSpans,
    Msg::ScopeMetrics,
    Msg::ScopeLogs,
    Msg::Scope,
    Msg::Span,
    Msg::Event,
    Msg::Link,
    Msg::Metric,
    Msg::Points(Point::Number),
    Msg::Points(Point::Histogram),
    Msg::Points(Point::Exponential),
    Msg::Points(Point::Summary),
    Msg::Point(Point::Number),
    Msg::Point(Point::Histogram),
    Msg::Point(Point::Exponential),
    Msg::Point(Point::Summary),
    Msg::Buckets,
    Msg::Quantile,
    Msg::Exemplar,
    Msg::LogRecord,
    Msg::Status,
    Msg::EntityRef,
    Msg::KeyValue,
    Msg::AnyValue,
    Msg::ArrayValue,
    Msg::KvList,
];

fn point_index(point: Point) -> usize {
    match point {
        Point::Number => 0,
        Point::Histogram => 1,
        Point::Exponential => 2,
        Point::Summary => 3,
    }
}

/// `msg`'s row in the table.
fn index(msg: Msg) -> usize {
    match msg {
        Msg::Request(Signal::Traces) => 0,
        Msg::Request(Signal::Metrics) => 1,
        Msg::Request(Signal::Logs) => 2,
        Msg::ResourceSpans => 3,
        Msg::ResourceMetrics => 4,
        Msg::ResourceLogs => 5,
        Msg::Resource => 6,
        Msg::ScopeSpans => 7,
        Msg::ScopeMetrics => 8,
        Msg::ScopeLogs => 9,
        Msg::Scope => 10,
        Msg::Span => 11,
        Msg::Event => 12,
        Msg::Link => 13,
        Msg::Metric => 14,
        Msg::Points(point) => 15 + point_index(point),
        Msg::Point(point) => 19 + point_index(point),
        Msg::Buckets => 23,
        Msg::Quantile => 24,
        Msg::Exemplar => 25,
        Msg::LogRecord => 26,
        Msg::Status => 27,
        Msg::EntityRef => 28,
        Msg::KeyValue => 29,
        Msg::AnyValue => 30,
        Msg::ArrayValue => 31,
        Msg::KvList => 32,
    }
}

type Table = Vec<[Option<Step>; 128]>;

static STEPS: LazyLock<Table> = LazyLock::new(|| {
    MESSAGES
        .iter()
        .map(|&msg| std::array::from_fn(|key| decide(msg, key as u8)))
        .collect()
});

/// The step for a field of `msg` whose key starts with `first`; `None` for the general path
/// (read the field and judge it by `field` and `verify`).
#[inline(always)]
pub(super) fn step(msg: Msg, first: u8) -> Option<Step> {
    STEPS[index(msg)].get(usize::from(first)).copied().flatten()
}

/// What the general path would do with key `key` (< 0x80) of `msg`, if it is only a skip, a
/// UTF-8 check or entering a message; else `None`.
fn decide(msg: Msg, key: u8) -> Option<Step> {
    let (number, wire_type) = (u64::from(key >> 3), key & 7);
    let kind = verify::kind(msg, number);
    // Fields `Seen` notes: checked at the message's end by the general path.
    let noted = matches!(kind, Some(FieldKind::Id(_)))
        || (msg == Msg::Metric && matches!(number, 5 | 7 | 9 | 10 | 11));
    if number == 0 || noted {
        return None;
    }
    Some(match (field(msg, number), kind, wire_type) {
        (None, None | Some(FieldKind::Varint), 0) => Step::SkipVarint,
        (None, None | Some(FieldKind::Fixed64), 1) => Step::SkipFixed64,
        (None, None | Some(FieldKind::Fixed32), 5) => Step::SkipFixed32,
        (None, None | Some(FieldKind::Bytes), 2) => Step::SkipLen { utf8: false },
        (None, Some(FieldKind::Text), 2) => Step::SkipLen { utf8: true },
        (Some(Field::One(child)), Some(FieldKind::Message), 2) => Step::Child(child),
        (Some(Field::Many(child)), Some(FieldKind::Message), 2) => Step::Element(child),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_its_own_row() {
        for (row, msg) in MESSAGES.iter().enumerate() {
            assert_eq!(index(*msg), row, "{msg:?}");
        }
    }

    #[test]
    fn the_table_takes_the_fast_path_for_an_ordinary_span() {
        let span = |key| step(Msg::Span, key);
        assert_eq!(span(0x0a), None, "trace_id is noted for the id check");
        assert_eq!(span(0x2a), Some(Step::SkipLen { utf8: true }), "name");
        assert_eq!(span(0x30), Some(Step::SkipVarint), "kind");
        assert_eq!(span(0x39), Some(Step::SkipFixed64), "start time");
        assert_eq!(span(0x4a), Some(Step::Element(Msg::KeyValue)), "attributes");
        assert_eq!(span(0x7a), None, "status is a leaf checked whole");
        assert_eq!(span(0x2d), None, "name as a fixed32 is refused");
        assert_eq!(span(0x85), None, "field 16 has a two-byte key");
        assert_eq!(step(Msg::KeyValue, 0x12), Some(Step::Child(Msg::AnyValue)));
        assert_eq!(
            step(Msg::AnyValue, 0x18),
            Some(Step::SkipVarint),
            "int value"
        );
        assert_eq!(step(Msg::Metric, 0x2a), None, "gauge: data oneof");
        assert_eq!(
            step(Msg::Point(Point::Histogram), 0x32),
            None,
            "packed counts"
        );
    }
}
