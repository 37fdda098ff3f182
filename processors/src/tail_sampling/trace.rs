//! A pending trace: its spans, encoded and grouped by the resource and scope they arrived
//! under, and the memory they hold.

use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prost::Message;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::Span;

use crate::probabilistic_sampler::threshold::Randomness;
use crate::probabilistic_sampler::tracestate;

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

/// Spans of one trace that arrived under one origin, kept encoded: one buffer of
/// length-delimited protobuf spans instead of a dozen small allocations per span, about a
/// fifth of the memory, and a size the budget knows exactly.
#[derive(Debug)]
pub struct Fragment {
    pub origin: Arc<Origin>,
    encoded: Vec<u8>,
}

/// What a pending trace costs besides its spans: its table entry (key, this struct and a
/// control byte, at the table's lowest load factor just after it doubled: about 200
/// bytes) and its place in the arrival queue (24 bytes, up to twice that in a grown
/// queue).
pub const TRACE_OVERHEAD_BYTES: usize = 256;

/// A trace waiting for its decision: its spans, encoded, and what the policies that need
/// no span contents decide on.
#[derive(Debug)]
pub struct PendingTrace {
    fragments: Vec<Fragment>,
    pub span_count: usize,
    /// Estimated bytes held, charged against the budget.
    pub bytes: usize,
    /// Its place in the arrival order (see `store::PendingTraces`).
    pub sequence: u64,
    /// The earliest start and latest end of its spans, in Unix nanoseconds.
    pub earliest_start: u64,
    pub latest_end: u64,
    /// The trace ID, as its first span carried it.
    pub trace_id: Vec<u8>,
    /// An explicit OTEP 235 randomness (`rv` in `tracestate`) from any span.
    pub explicit_randomness: Option<Randomness>,
}

/// A trace's spans decoded again, grouped by origin.
pub type DecodedSpans = Vec<(Arc<Origin>, Vec<Span>)>;

impl PendingTrace {
    pub fn new(sequence: u64) -> PendingTrace {
        PendingTrace {
            fragments: Vec::new(),
            span_count: 0,
            bytes: TRACE_OVERHEAD_BYTES,
            sequence,
            earliest_start: u64::MAX,
            latest_end: 0,
            trace_id: Vec::new(),
            explicit_randomness: None,
        }
    }

    /// Adds a span; returns the bytes it added to this trace, and whether the origin
    /// was held by no pending trace before (its bytes are then charged once, by
    /// `PendingTraces`, however many traces come to share it).
    pub fn add(&mut self, origin: &Arc<Origin>, span: &Span) -> (usize, bool) {
        let mut added = 0;
        if self.span_count == 0 {
            self.trace_id = span.trace_id.clone();
            added += heap(self.trace_id.len());
        }
        self.span_count += 1;
        self.earliest_start = self.earliest_start.min(span.start_time_unix_nano);
        self.latest_end = self.latest_end.max(span.end_time_unix_nano);
        if self.explicit_randomness.is_none() && !span.trace_state.is_empty() {
            self.explicit_randomness = tracestate::read(&span.trace_state)
                .ok()
                .and_then(|ot| ot.randomness);
        }
        let mut newly_held = false;
        let fragments_before = self.fragments.capacity();
        let same_origin = self
            .fragments
            .last()
            .is_some_and(|last| Arc::ptr_eq(&last.origin, origin));
        if !same_origin {
            newly_held = origin.pending_fragments.fetch_add(1, Ordering::Relaxed) == 0;
            self.fragments.push(Fragment {
                origin: origin.clone(),
                encoded: Vec::new(),
            });
        }
        let buffer = &mut self.fragments.last_mut().expect("just ensured").encoded;
        let before = buffer.capacity();
        span.encode_length_delimited(buffer)
            .expect("a Vec grows to fit what is encoded");
        added += heap(buffer.capacity()).saturating_sub(heap(before));
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

    /// The spans, decoded. Each was encoded here from a decoded span, so decoding it
    /// again cannot fail short of memory corruption; a span that did would be skipped.
    pub fn decode(&self) -> DecodedSpans {
        self.fragments
            .iter()
            .map(|fragment| {
                let mut buffer = fragment.encoded.as_slice();
                let mut spans = Vec::new();
                while !buffer.is_empty() {
                    match Span::decode_length_delimited(&mut buffer) {
                        Ok(span) => spans.push(span),
                        Err(_) => break,
                    }
                }
                (fragment.origin.clone(), spans)
            })
            .collect()
    }

    /// Trace duration: earliest start to latest end, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.latest_end.saturating_sub(self.earliest_start)
    }
}

/// What the policies see of a trace: its facts, and its spans when some policy needs
/// their contents (otherwise empty: deciding on the trace ID, counts or timing alone
/// never decodes anything).
pub struct TraceView<'a> {
    pub facts: &'a PendingTrace,
    pub decoded: &'a [(Arc<Origin>, Vec<Span>)],
}

impl TraceView<'_> {
    pub fn spans(&self) -> impl Iterator<Item = (&Origin, &Span)> {
        self.decoded
            .iter()
            .flat_map(|(origin, spans)| spans.iter().map(move |s| (origin.as_ref(), s)))
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

/// Heap memory of an attribute list: the vector and what each entry owns.
pub fn attributes_bytes(attributes: &[KeyValue]) -> usize {
    heap(std::mem::size_of_val(attributes))
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
            heap(std::mem::size_of_val(array.values.as_slice()))
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
