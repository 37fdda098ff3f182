//! A pending trace: its spans, grouped by the resource and scope they arrived under, and
//! an estimate of the memory they hold.

use std::mem::size_of;
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
            s.name.len() + s.version.len() + attributes_bytes(&s.attributes)
        });
        size_of::<Origin>()
            + resource
            + scope
            + self.resource_schema_url.len()
            + self.scope_schema_url.len()
    }
}

/// Spans of one trace that arrived under one origin.
#[derive(Debug)]
pub struct Fragment {
    pub origin: Arc<Origin>,
    pub spans: Vec<Span>,
}

/// What a pending trace costs besides its spans: its table entry, its place in the
/// arrival queue and its bookkeeping.
pub const TRACE_OVERHEAD_BYTES: usize = 160;

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

    /// Adds a span; returns the bytes it added.
    pub fn add(&mut self, origin: &Arc<Origin>, span: Span) -> usize {
        let mut added = span_bytes(&span);
        self.span_count += 1;
        self.earliest_start = self.earliest_start.min(span.start_time_unix_nano);
        self.latest_end = self.latest_end.max(span.end_time_unix_nano);
        match self.fragments.last_mut() {
            Some(last) if Arc::ptr_eq(&last.origin, origin) => last.spans.push(span),
            _ => {
                // Charged in full to every trace sharing it: conservative, so the budget
                // holds even when the traces sharing an origin are released one by one.
                added += size_of::<Fragment>() + origin.estimated_bytes();
                self.fragments.push(Fragment {
                    origin: origin.clone(),
                    spans: vec![span],
                });
            }
        }
        self.bytes += added;
        added
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

/// Estimated memory of one decoded span: the struct, its strings, attributes, events and
/// links. Vectors are counted by length, which for decoded data is their capacity.
pub fn span_bytes(span: &Span) -> usize {
    let ids = span.trace_id.len() + span.span_id.len() + span.parent_span_id.len();
    let events: usize = span
        .events
        .iter()
        .map(|e| size_of::<span::Event>() + e.name.len() + attributes_bytes(&e.attributes))
        .sum();
    let links: usize = span
        .links
        .iter()
        .map(|l| {
            size_of::<span::Link>()
                + l.trace_id.len()
                + l.span_id.len()
                + l.trace_state.len()
                + attributes_bytes(&l.attributes)
        })
        .sum();
    let status = span.status.as_ref().map_or(0, |s| s.message.len());
    size_of::<Span>()
        + ids
        + span.trace_state.len()
        + span.name.len()
        + attributes_bytes(&span.attributes)
        + events
        + links
        + status
}

pub fn attributes_bytes(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| size_of::<KeyValue>() + kv.key.len() + any_value_bytes(kv.value.as_ref()))
        .sum()
}

fn any_value_bytes(value: Option<&AnyValue>) -> usize {
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return 0;
    };
    size_of::<AnyValue>()
        + match value {
            any_value::Value::StringValue(s) => s.len(),
            any_value::Value::BytesValue(b) => b.len(),
            any_value::Value::ArrayValue(array) => {
                array.values.iter().map(|v| any_value_bytes(Some(v))).sum()
            }
            any_value::Value::KvlistValue(list) => attributes_bytes(&list.values),
            _ => 0,
        }
}
