//! The same pass for OTLP/JSON: one scan over the bytes that tracks which message each
//! object is by the key it sits under, without building anything. It counts what the
//! protobuf pass counts and adds, per JSON value, what the decoder's fallback (a
//! `serde_json::Value` tree, see `decode::decode_json`) may build.

use std::mem::size_of;

use sentinel_pipeline::Signal;

use super::{field, Field, Limits, Msg, Point, Scan, Shape, Violation};

/// A `serde_json::Value` with its key and map entry, twice for growth.
const VALUE_TREE_BYTES: usize = 2 * (size_of::<serde_json::Value>() + size_of::<String>() + 8);
/// Bound on object and array nesting, whatever they are (serde_json stops at 128).
const MAX_NESTING: usize = 256;

/// The protobuf field number a JSON key names in `msg` (the fields [`field`] knows).
fn field_number(msg: Msg, key: &[u8]) -> Option<u64> {
    Some(match (msg, key) {
        (Msg::Request(_), b"resourceSpans" | b"resourceMetrics" | b"resourceLogs") => 1,
        (Msg::ResourceSpans | Msg::ResourceMetrics | Msg::ResourceLogs, b"resource") => 1,
        (Msg::ResourceSpans | Msg::ResourceMetrics | Msg::ResourceLogs, _)
            if matches!(key, b"scopeSpans" | b"scopeMetrics" | b"scopeLogs") =>
        {
            2
        }
        (Msg::Resource, b"attributes") => 1,
        (Msg::Resource, b"entityRefs") => 3,
        (Msg::EntityRef, b"idKeys") => 3,
        (Msg::EntityRef, b"descriptionKeys") => 4,
        (Msg::ScopeSpans | Msg::ScopeMetrics | Msg::ScopeLogs, b"scope") => 1,
        (Msg::ScopeSpans, b"spans") | (Msg::ScopeMetrics, b"metrics") => 2,
        (Msg::ScopeLogs, b"logRecords") => 2,
        (Msg::Scope, b"attributes") | (Msg::Event, b"attributes") => 3,
        (Msg::Span, b"attributes") => 9,
        (Msg::Span, b"events") => 11,
        (Msg::Span, b"links") => 13,
        (Msg::Link, b"attributes") => 4,
        (Msg::Metric, b"metadata") => 12,
        (Msg::Metric, b"gauge") => 5,
        (Msg::Metric, b"sum") => 7,
        (Msg::Metric, b"histogram") => 9,
        (Msg::Metric, b"exponentialHistogram") => 10,
        (Msg::Metric, b"summary") => 11,
        (Msg::Points(_), b"dataPoints") => 1,
        (Msg::Point(point), _) => point_field(point, key)?,
        (Msg::Exemplar, b"filteredAttributes") => 7,
        (Msg::Buckets, b"bucketCounts") => 2,
        (Msg::LogRecord, b"body") => 5,
        (Msg::LogRecord, b"attributes") => 6,
        (Msg::KeyValue, b"value") => 2,
        (Msg::AnyValue, b"arrayValue") => 5,
        (Msg::AnyValue, b"kvlistValue") => 6,
        (Msg::ArrayValue | Msg::KvList, b"values") => 1,
        _ => return None,
    })
}

fn point_field(point: Point, key: &[u8]) -> Option<u64> {
    Some(match (point, key) {
        (Point::Number, b"attributes") | (Point::Summary, b"attributes") => 7,
        (Point::Number, b"exemplars") => 5,
        (Point::Histogram, b"attributes") => 9,
        (Point::Histogram, b"exemplars") => 8,
        (Point::Histogram, b"bucketCounts") => 6,
        (Point::Histogram, b"explicitBounds") => 7,
        (Point::Exponential, b"attributes") => 1,
        (Point::Exponential, b"exemplars") => 11,
        (Point::Exponential, b"positive") => 8,
        (Point::Exponential, b"negative") => 9,
        (Point::Summary, b"quantileValues") => 6,
        _ => return None,
    })
}

/// An open object or array.
struct Frame<'a> {
    /// The message an object is (`None`: not one the pass follows).
    msg: Option<Msg>,
    /// For an array: what its elements are.
    elements_are: Option<Field>,
    array: bool,
    /// In an object: the last key read, and whether the next string is a key.
    key: &'a [u8],
    expect_key: bool,
    elements: usize,
    depth: usize,
}

/// Walks OTLP/JSON `bytes`, stopping at the first broken limit. Malformed JSON is left
/// for the decoder to report: the pass stops and returns what it counted.
pub fn prescan_json(signal: Signal, bytes: &[u8], limits: &Limits) -> Result<Shape, Violation> {
    let mut scan = Scan::new(signal, bytes, limits);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let Some(end) = string_end(bytes, i + 1) else {
                    break;
                };
                let text = &bytes[i + 1..end];
                i = end + 1;
                match stack.last_mut() {
                    Some(top) if !top.array && top.expect_key => {
                        top.key = text;
                        top.expect_key = false;
                    }
                    _ => {
                        value(&mut scan, &mut stack, None)?;
                    }
                }
                continue;
            }
            open @ (b'{' | b'[') => {
                let frame = value(&mut scan, &mut stack, Some(open == b'['))?;
                if stack.len() >= MAX_NESTING {
                    return Err(Violation::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                stack.extend(frame);
            }
            b'}' | b']' => {
                if stack.pop().is_none() {
                    break;
                }
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.expect_key = !top.array;
                }
            }
            b':' | b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => {
                value(&mut scan, &mut stack, None)?;
                while i + 1 < bytes.len() && !b",]} \t\r\n".contains(&bytes[i + 1]) {
                    i += 1;
                }
            }
        }
        i += 1;
    }
    Ok(scan.shape)
}

/// A value starts: count it in its array, charge it, and for an object or array
/// (`container` = `Some(is_array)`) return the frame to push.
fn value<'a>(
    scan: &mut Scan<'_>,
    stack: &mut [Frame<'a>],
    container: Option<bool>,
) -> Result<Option<Frame<'a>>, Violation> {
    scan.charge(VALUE_TREE_BYTES);
    let Some(top) = stack.last_mut() else {
        // The request object itself.
        return Ok(container.map(|array| Frame::new(Some(Msg::Request(scan.signal)), array, 0)));
    };
    let depth = top.depth;
    let (msg, field_kind) = if top.array {
        let kind = top.elements_are;
        if let Some(Field::Many(child)) = kind {
            scan.element(child, &mut top.elements)?;
        } else {
            top.elements += 1;
            match kind {
                Some(Field::Varints | Field::Fixed) => scan.charge(2 * size_of::<u64>()),
                Some(Field::Strings) => scan.charge(2 * size_of::<String>()),
                _ => {}
            }
        }
        let msg = match kind {
            Some(Field::Many(child) | Field::One(child)) => Some(child),
            _ => None,
        };
        (msg, None)
    } else {
        let kind = top
            .msg
            .and_then(|msg| Some((msg, field_number(msg, top.key)?)))
            .and_then(|(msg, number)| field(msg, number));
        let msg = match kind {
            Some(Field::One(child) | Field::Many(child)) => Some(child),
            _ => None,
        };
        (msg, kind)
    };
    let Some(array) = container else {
        return Ok(None);
    };
    if array {
        return Ok(Some(Frame {
            elements_are: field_kind,
            ..Frame::new(None, true, depth)
        }));
    }
    let depth = depth + usize::from(msg == Some(Msg::AnyValue));
    if depth > scan.limits.max_depth {
        return Err(Violation::TooDeep {
            limit: scan.limits.max_depth,
        });
    }
    Ok(Some(Frame::new(msg, false, depth)))
}

impl Frame<'_> {
    fn new(msg: Option<Msg>, array: bool, depth: usize) -> Self {
        Frame {
            msg,
            elements_are: None,
            array,
            key: b"",
            expect_key: !array,
            elements: 0,
            depth,
        }
    }
}

/// The index of the quote closing the string that starts at `from`.
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    while from < bytes.len() {
        match bytes[from] {
            b'\\' => from += 2,
            b'"' => return Some(from),
            _ => from += 1,
        }
    }
    None
}
