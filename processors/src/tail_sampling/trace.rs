//! A pending trace: its spans, grouped by the resource and scope they arrived under, and
//! an estimate of the memory they hold.

use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{span, Span};

/// The resource and scope a group of spans arrived under, shared by every trace that had
/// spans in that group.
#[derive(Debug, Default)]
pub struct Origin {
    pub resource: Option<Resource>,
    pub resource_schema_url: String,
    pub scope: Option<InstrumentationScope>,
    pub scope_schema_url: String,
    /// Pending fragments holding this origin: its bytes are charged while there are any.
    pub(super) pending_fragments: AtomicUsize,
}

impl Origin {
    pub fn resource_attributes(&self) -> &[KeyValue] {
        self.resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[])
    }

    /// Estimated heap and inline bytes.
    pub fn estimated_bytes(&self) -> usize {
        let resource = self
            .resource
            .as_ref()
            .map_or(0, |r| attributes_bytes(&r.attributes));
        let scope = self.scope.as_ref().map_or(0, |s| {
            heap(s.name.len()) + heap(s.version.len()) + attributes_bytes(&s.attributes)
        });
        heap(size_of::<Origin>() + 16)
            + resource
            + scope
            + heap(self.resource_schema_url.len())
            + heap(self.scope_schema_url.len())
    }
}

/// Spans of one trace that arrived under one origin.
#[derive(Debug)]
pub struct Fragment {
    pub origin: Arc<Origin>,
    pub spans: Vec<Span>,
}

/// What a pending trace costs besides its spans: its table entry (key, this struct and a
/// control byte, at the table's lowest load factor just after it doubled: about 170
/// bytes) and its place in the arrival queue (24 bytes, up to twice that in a grown
/// queue).
pub const TRACE_OVERHEAD_BYTES: usize = 224;

/// A trace waiting for its decision.
#[derive(Debug)]
pub struct PendingTrace {
    pub fragments: Vec<Fragment>,
    pub span_count: usize,
    /// Estimated bytes held, charged against the budget.
    pub bytes: usize,
    /// Its place in the arrival order (see `store::PendingTraces`).
    pub sequence: u64,
    /// The earliest start and latest end of its spans, in Unix nanoseconds.
    pub earliest_start: u64,
    pub latest_end: u64,
}

impl PendingTrace {
    pub fn new(sequence: u64) -> PendingTrace {
        PendingTrace {
            fragments: Vec::new(),
            span_count: 0,
            bytes: TRACE_OVERHEAD_BYTES,
            sequence,
            earliest_start: u64::MAX,
            latest_end: 0,
        }
    }

    /// Adds a span; returns the bytes it added to this trace, and whether the origin
    /// was held by no pending trace before (its bytes are then charged once, by
    /// `PendingTraces`, however many traces come to share it).
    pub fn add(&mut self, origin: &Arc<Origin>, span: Span) -> (usize, bool) {
        let mut newly_held = false;
        let mut added = span_heap_bytes(&span);
        self.span_count += 1;
        self.earliest_start = self.earliest_start.min(span.start_time_unix_nano);
        self.latest_end = self.latest_end.max(span.end_time_unix_nano);
        let fragments_before = self.fragments.capacity();
        match self.fragments.last_mut() {
            Some(last) if Arc::ptr_eq(&last.origin, origin) => {
                let before = last.spans.capacity();
                last.spans.push(span);
                added += vec_growth::<Span>(before, last.spans.capacity());
            }
            _ => {
                newly_held = origin.pending_fragments.fetch_add(1, Ordering::Relaxed) == 0;
                let spans = vec![span];
                added += vec_growth::<Span>(0, spans.capacity());
                self.fragments.push(Fragment {
                    origin: origin.clone(),
                    spans,
                });
            }
        }
        added += vec_growth::<Fragment>(fragments_before, self.fragments.capacity());
        self.bytes += added;
        (added, newly_held)
    }

    /// Lets go of the trace's origins: the bytes of those no pending trace holds any more.
    pub fn release_origins(&self) -> usize {
        self.fragments
            .iter()
            .filter(|f| f.origin.pending_fragments.fetch_sub(1, Ordering::Relaxed) == 1)
            .map(|f| f.origin.estimated_bytes())
            .sum()
    }

    pub fn spans(&self) -> impl Iterator<Item = (&Origin, &Span)> {
        self.fragments
            .iter()
            .flat_map(|f| f.spans.iter().map(move |s| (f.origin.as_ref(), s)))
    }

    /// Trace duration: earliest start to latest end, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.latest_end.saturating_sub(self.earliest_start)
    }
}

/// What the allocator hands out for a request of `len` bytes: glibc's chunks carry an
/// 8-byte header, are 16-byte aligned and at least 32 bytes. Counting this rather than
/// the data alone keeps the budget close to resident memory for the many small strings
/// and vectors a span is made of.
fn heap(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len + 8).div_ceil(16).max(2) * 16
    }
}

fn vec_growth<T>(before: usize, after: usize) -> usize {
    heap(after * size_of::<T>()).saturating_sub(heap(before * size_of::<T>()))
}

/// Estimated heap memory owned by one decoded span (its inline part is counted where it
/// is stored): its ids, strings, attributes, events and links.
pub fn span_heap_bytes(span: &Span) -> usize {
    let ids =
        heap(span.trace_id.len()) + heap(span.span_id.len()) + heap(span.parent_span_id.len());
    let events: usize = heap(span.events.len() * size_of::<span::Event>())
        + span
            .events
            .iter()
            .map(|e| heap(e.name.len()) + attributes_bytes(&e.attributes))
            .sum::<usize>();
    let links: usize = heap(span.links.len() * size_of::<span::Link>())
        + span
            .links
            .iter()
            .map(|l| {
                heap(l.trace_id.len())
                    + heap(l.span_id.len())
                    + heap(l.trace_state.len())
                    + attributes_bytes(&l.attributes)
            })
            .sum::<usize>();
    let status = span.status.as_ref().map_or(0, |s| heap(s.message.len()));
    ids + heap(span.trace_state.len())
        + heap(span.name.len())
        + attributes_bytes(&span.attributes)
        + events
        + links
        + status
}

/// Heap memory of an attribute list: the vector and what each entry owns.
pub fn attributes_bytes(attributes: &[KeyValue]) -> usize {
    heap(attributes.len() * size_of::<KeyValue>())
        + attributes
            .iter()
            .map(|kv| heap(kv.key.len()) + any_value_bytes(kv.value.as_ref()))
            .sum::<usize>()
}

fn any_value_bytes(value: Option<&AnyValue>) -> usize {
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return 0;
    };
    match value {
        any_value::Value::StringValue(s) => heap(s.len()),
        any_value::Value::BytesValue(b) => heap(b.len()),
        any_value::Value::ArrayValue(array) => {
            heap(array.values.len() * size_of::<AnyValue>())
                + array
                    .values
                    .iter()
                    .map(|v| any_value_bytes(Some(v)))
                    .sum::<usize>()
        }
        any_value::Value::KvlistValue(list) => attributes_bytes(&list.values),
        _ => 0,
    }
}
