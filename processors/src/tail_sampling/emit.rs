//! Turns decided traces back into export requests, one `ResourceSpans` per origin so
//! that spans which arrived together leave together. Each request keeps the encoded
//! traces it carries, so that one an exporter queue refuses can be sent again.

use std::collections::HashMap;
use std::sync::Arc;

use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::trace::{DecodedSpans, Origin, PendingTrace};

/// Spans per emitted request, so that a large release is handed on in pieces the
/// exporters' queues and batch sizes are made for. A trace is never split.
const MAX_SPANS_PER_REQUEST: usize = 8192;

/// One request of kept traces, and the traces themselves (encoded) until it is answered.
pub struct Release {
    pub request: ExportTraceServiceRequest,
    pub traces: Vec<PendingTrace>,
}

#[derive(Default)]
pub struct Emitter {
    done: Vec<Release>,
    current: ExportTraceServiceRequest,
    traces: Vec<PendingTrace>,
    spans: usize,
    /// Origin (by address) → its index in `current.resource_spans`.
    index: HashMap<usize, usize>,
    /// The origins indexed, held so that no address is reused while it is a key.
    held: Vec<Arc<Origin>>,
}

impl Emitter {
    /// Adds a kept trace: its decoded spans go out, the encoded trace stays with them.
    pub fn add_trace(&mut self, spans: DecodedSpans, trace: PendingTrace) {
        if self.spans >= MAX_SPANS_PER_REQUEST {
            self.cut();
        }
        for (origin, spans) in spans {
            self.add_spans(&origin, spans);
        }
        self.traces.push(trace);
    }

    /// Adds a span that follows a cached decision; nothing of it is kept.
    pub fn add_span(&mut self, origin: &Arc<Origin>, span: Span) {
        self.add_spans(origin, vec![span]);
    }

    fn cut(&mut self) {
        self.done.push(Release {
            request: std::mem::take(&mut self.current),
            traces: std::mem::take(&mut self.traces),
        });
        self.index.clear();
        self.held.clear();
        self.spans = 0;
    }

    fn add_spans(&mut self, origin: &Arc<Origin>, mut spans: Vec<Span>) {
        self.spans += spans.len();
        let address = Arc::as_ptr(origin) as usize;
        if let Some(&at) = self.index.get(&address) {
            self.current.resource_spans[at].scope_spans[0]
                .spans
                .append(&mut spans);
            return;
        }
        self.index
            .insert(address, self.current.resource_spans.len());
        self.held.push(origin.clone());
        self.current.resource_spans.push(ResourceSpans {
            resource: origin.resource.clone(),
            schema_url: origin.resource_schema_url.clone(),
            scope_spans: vec![ScopeSpans {
                scope: origin.scope.clone(),
                spans,
                schema_url: origin.scope_schema_url.clone(),
            }],
        });
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.current.resource_spans.is_empty()
    }

    pub fn finish(mut self) -> Vec<Release> {
        if !self.current.resource_spans.is_empty() {
            self.cut();
        }
        self.done
    }
}
