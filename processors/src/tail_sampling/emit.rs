//! Turns decided traces back into export requests, one `ResourceSpans` per origin so
//! that spans which arrived together leave together.

use std::collections::HashMap;
use std::sync::Arc;

use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::trace::{DecodedSpans, Origin};

/// Spans per emitted request, so that a large release is handed on in pieces the
/// exporters' queues and batch sizes are made for.
const MAX_SPANS_PER_REQUEST: usize = 8192;

#[derive(Default)]
pub struct Emitter {
    done: Vec<ExportTraceServiceRequest>,
    current: ExportTraceServiceRequest,
    spans: usize,
    /// Origin (by address) → its index in `current.resource_spans`.
    index: HashMap<usize, usize>,
    /// The origins indexed, held so that no address is reused while it is a key.
    held: Vec<Arc<Origin>>,
}

impl Emitter {
    pub fn add_trace(&mut self, spans: DecodedSpans) {
        for (origin, spans) in spans {
            self.add_spans(&origin, spans);
        }
    }

    pub fn add_span(&mut self, origin: &Arc<Origin>, span: Span) {
        self.add_spans(origin, vec![span]);
    }

    fn add_spans(&mut self, origin: &Arc<Origin>, mut spans: Vec<Span>) {
        if self.spans >= MAX_SPANS_PER_REQUEST {
            self.done.push(std::mem::take(&mut self.current));
            self.index.clear();
            self.held.clear();
            self.spans = 0;
        }
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

    pub fn finish(mut self) -> Vec<ExportTraceServiceRequest> {
        if !self.current.resource_spans.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}
