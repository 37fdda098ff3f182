//! The sampler itself, free of the pipeline: spans in, decided traces out.

use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use tokio::time::Instant;

use super::cache::{trace_key, Decisions, TraceKey};
use super::emit::{Emitter, Release};
use super::policy::{combine, Policy, Verdict};
use super::resend::Resend;
use super::store::PendingTraces;
use super::trace::{Origin, PendingTrace, TraceView};
use super::TailSamplingConfig;

/// Why a trace was decided before `decision_wait` was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EarlyReason {
    /// It reached `maximum_trace_size_bytes`.
    TraceSize,
    /// The pending traces reached `max_memory_mib`; it was the oldest.
    MemoryBudget,
    /// The pending traces reached `num_traces`; it was the oldest.
    NumTraces,
    /// The agent stopped.
    Shutdown,
}

impl EarlyReason {
    pub const ALL: [EarlyReason; 4] = [
        EarlyReason::TraceSize,
        EarlyReason::MemoryBudget,
        EarlyReason::NumTraces,
        EarlyReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EarlyReason::TraceSize => "trace_size",
            EarlyReason::MemoryBudget => "memory_budget",
            EarlyReason::NumTraces => "num_traces",
            EarlyReason::Shutdown => "shutdown",
        }
    }
}

/// What happened since the counts were last taken.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub traces_sampled: u64,
    pub traces_not_sampled: u64,
    /// Spans of traces decided "not sampled", late ones included.
    pub spans_sampled_out: u64,
    /// Spans that arrived after their trace's decision and followed it.
    pub late_spans_sampled: u64,
    pub late_spans_not_sampled: u64,
    /// Early decisions, indexed like [`EarlyReason::ALL`].
    pub early: [u64; 4],
    /// Spans dropped undecided at shutdown (`drop_pending_traces_on_shutdown`).
    pub spans_dropped_at_shutdown: u64,
    /// Spans of kept traces an exporter queue refused, to be sent again.
    pub spans_refused: u64,
    /// Spans of refused kept traces given up because the budget needed their room.
    pub spans_dropped_refused: u64,
}

/// What one request became.
pub struct Ingested {
    /// Spans whose trace was already decided "sampled": they go on at once, with the
    /// request's acknowledgement.
    pub passed: Option<ExportTraceServiceRequest>,
    /// Traces decided early while taking the request in.
    pub decided: Vec<Release>,
}

pub struct TailSampler {
    decision_wait: Duration,
    num_traces: usize,
    max_bytes: usize,
    max_trace_bytes: usize,
    sample_on_first_match: bool,
    drop_on_shutdown: bool,
    /// `drop` policies first: they veto, so nothing else needs evaluating when one does.
    policies: Vec<Policy>,
    /// Whether any policy reads span contents; if none does, only kept traces are decoded.
    needs_spans: bool,
    pending: PendingTraces,
    resend: Resend,
    decisions: Decisions,
    pub tally: Tally,
}

impl TailSampler {
    pub fn new(config: &TailSamplingConfig) -> TailSampler {
        let mut policies: Vec<Policy> = config.policies.iter().map(Policy::compile).collect();
        policies.sort_by_key(|p| !p.is_drop());
        let needs_spans = policies.iter().any(Policy::needs_spans);
        let expected = config.expected_new_traces_per_sec * config.decision_wait.as_secs() as usize;
        TailSampler {
            decision_wait: config.decision_wait,
            num_traces: config.num_traces,
            max_bytes: config.max_memory_bytes(),
            max_trace_bytes: config.maximum_trace_size_bytes as usize,
            sample_on_first_match: config.sample_on_first_match,
            drop_on_shutdown: config.drop_pending_traces_on_shutdown,
            policies,
            needs_spans,
            pending: PendingTraces::with_capacity(expected.min(config.num_traces)),
            resend: Resend::default(),
            decisions: Decisions::new(
                config.decision_cache.sampled_cache_size,
                config.decision_cache.non_sampled_cache_size,
            ),
            tally: Tally::default(),
        }
    }

    /// Takes one request's spans in: each joins its pending trace, or follows its
    /// trace's cached decision. Then decides early what no longer fits.
    pub fn ingest(&mut self, request: ExportTraceServiceRequest, now: Instant) -> Ingested {
        let due = now + self.decision_wait;
        let mut passed = Emitter::default();
        let mut oversized: Vec<TraceKey> = Vec::new();
        for resource_spans in request.resource_spans {
            for scope_spans in resource_spans.scope_spans {
                let origin = Arc::new(Origin {
                    resource: resource_spans.resource.clone(),
                    resource_schema_url: resource_spans.schema_url.clone(),
                    scope: scope_spans.scope,
                    scope_schema_url: scope_spans.schema_url,
                    ..Origin::default()
                });
                for span in scope_spans.spans {
                    let key = trace_key(&span.trace_id);
                    if !self.pending.contains(key) {
                        match self.decisions.lookup(key) {
                            Some(true) => {
                                self.tally.late_spans_sampled += 1;
                                passed.add_span(&origin, span);
                                continue;
                            }
                            Some(false) => {
                                self.tally.late_spans_not_sampled += 1;
                                self.tally.spans_sampled_out += 1;
                                continue;
                            }
                            None => {}
                        }
                    }
                    let held = self.pending.add(key, &origin, span, due);
                    if held >= self.max_trace_bytes {
                        oversized.push(key);
                    }
                }
            }
        }
        let mut decided = Emitter::default();
        for key in oversized {
            if let Some(trace) = self.pending.remove(key) {
                self.decide(key, trace, EarlyReason::TraceSize, now, &mut decided);
            }
        }
        self.enforce_limits(now, &mut decided);
        Ingested {
            passed: (!passed.is_empty()).then(|| merge(passed.finish())),
            decided: decided.finish(),
        }
    }

    /// Past `num_traces` or the byte budget, the oldest traces are decided now; refused
    /// kept traces waiting to be sent again give up their room first.
    fn enforce_limits(&mut self, now: Instant, out: &mut Emitter) {
        loop {
            let reason = if self.pending.len() > self.num_traces {
                EarlyReason::NumTraces
            } else if self.held_bytes() > self.max_bytes {
                if let Some(given_up) = self.resend.drop_oldest() {
                    self.tally.spans_dropped_refused += given_up.span_count as u64;
                    continue;
                }
                EarlyReason::MemoryBudget
            } else {
                return;
            };
            let Some((key, trace)) = self.pending.pop_oldest() else {
                return;
            };
            self.decide(key, trace, reason, now, out);
        }
    }

    /// Decides every trace whose `decision_wait` is up, and sends again the refused kept
    /// traces whose second is up.
    pub fn decide_due(&mut self, now: Instant) -> Vec<Release> {
        let mut out = Emitter::default();
        self.resend_due(now, false, &mut out);
        while let Some((key, trace)) = self.pending.pop_due(now) {
            self.decide_trace(key, trace, now, &mut out);
        }
        out.finish()
    }

    /// Shutdown: decides (or drops, as configured) every pending trace, and sends the
    /// refused kept traces one last time.
    pub fn decide_all(&mut self, now: Instant) -> Vec<Release> {
        let mut out = Emitter::default();
        self.resend_due(now, true, &mut out);
        while let Some((key, trace)) = self.pending.pop_oldest() {
            if self.drop_on_shutdown {
                self.tally.spans_dropped_at_shutdown += trace.span_count as u64;
            } else {
                self.decide(key, trace, EarlyReason::Shutdown, now, &mut out);
            }
        }
        out.finish()
    }

    fn resend_due(&mut self, now: Instant, last_chance: bool, out: &mut Emitter) {
        for trace in self.resend.take_due(now, last_chance) {
            out.add_trace(trace.decode(), trace);
        }
    }

    /// Kept traces the downstream refused: held for sending again.
    pub fn refused(&mut self, traces: Vec<PendingTrace>, now: Instant) {
        self.tally.spans_refused += traces.iter().map(|t| t.span_count as u64).sum::<u64>();
        self.resend.refused(traces, now);
    }

    fn decide(
        &mut self,
        key: TraceKey,
        trace: PendingTrace,
        reason: EarlyReason,
        now: Instant,
        out: &mut Emitter,
    ) {
        let index = EarlyReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("listed");
        self.tally.early[index] += 1;
        self.decide_trace(key, trace, now, out);
    }

    fn decide_trace(
        &mut self,
        key: TraceKey,
        trace: PendingTrace,
        now: Instant,
        out: &mut Emitter,
    ) {
        let decoded = if self.needs_spans {
            trace.decode()
        } else {
            Vec::new()
        };
        let view = TraceView {
            facts: &trace,
            decoded: &decoded,
        };
        let sampled = self.evaluate_view(&view, now);
        self.decisions.remember(key, sampled);
        if sampled {
            self.tally.traces_sampled += 1;
            let decoded = if self.needs_spans {
                decoded
            } else {
                trace.decode()
            };
            out.add_trace(decoded, trace);
        } else {
            self.tally.traces_not_sampled += 1;
            self.tally.spans_sampled_out += trace.span_count as u64;
        }
    }

    /// Runs the policies over one pending trace: whether it is sampled.
    pub fn evaluate(&mut self, trace: &PendingTrace, now: Instant) -> bool {
        let decoded = trace.decode();
        self.evaluate_view(
            &TraceView {
                facts: trace,
                decoded: &decoded,
            },
            now,
        )
    }

    fn evaluate_view(&mut self, trace: &TraceView, now: Instant) -> bool {
        let mut verdicts = Vec::with_capacity(self.policies.len());
        for policy in &mut self.policies {
            let verdict = policy.evaluate(trace, now);
            if verdict == Verdict::Dropped {
                return false;
            }
            verdicts.push(verdict);
            if self.sample_on_first_match && verdict == Verdict::Sampled {
                break;
            }
        }
        combine(verdicts)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.pending.next_deadline(), self.resend.due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Spans held: pending a decision, or kept and waiting to be sent again.
    pub fn pending_spans(&self) -> usize {
        self.pending.spans() + self.resend.spans
    }

    /// Bytes held against the budget.
    fn held_bytes(&self) -> usize {
        self.pending.bytes() + self.resend.bytes
    }

    pub fn pending_traces(&self) -> usize {
        self.pending.len()
    }

    pub fn pending_bytes(&self) -> usize {
        self.held_bytes()
    }
}

/// Passed-through spans leave as one request: they came in as one.
fn merge(releases: Vec<Release>) -> ExportTraceServiceRequest {
    let mut merged = ExportTraceServiceRequest::default();
    for mut release in releases {
        merged
            .resource_spans
            .append(&mut release.request.resource_spans);
    }
    merged
}
