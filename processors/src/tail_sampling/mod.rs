//! `tail_sampling` processor: holds spans until their trace can be judged whole, then
//! keeps or drops the trace by its policies, within a byte budget. See
//! [`TailSamplingConfig`] and docs/sampling.md.

mod cache;
#[cfg(test)]
mod compliance;
mod config;
mod emit;
mod ledger;
mod metrics;
pub mod policy;
mod policy_config;
mod resend;
pub mod sampler;
mod store;
#[cfg(test)]
mod tests;
pub mod trace;

use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, ComponentMetrics, Factory, Handoffs,
    Kind, Message, Payload, Processor, ProcessorFactory, Signal,
};
use tokio::time::Instant;

pub use config::{DecisionCacheConfig, TailSamplingConfig};
pub use emit::Release;
pub use policy_config::*;
pub use sampler::{EarlyReason, TailSampler, Tally};

use ledger::Ledger;
use metrics::SamplerMetrics;
use trace::PendingTrace;

const SAMPLED_OUT: &str = "sampled out";
const DROPPED_AT_SHUTDOWN: &str = "pending at shutdown (drop_pending_traces_on_shutdown)";
const DROPPED_REFUSED: &str =
    "kept but refused downstream, given up when the budget needed the room";

pub struct TailSamplingFactory;

impl Factory for TailSamplingFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "tail_sampling",
            kind: Kind::Processor,
            signals: &[Signal::Traces],
            description: "Keeps or drops whole traces by policy, within a memory budget",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<TailSamplingConfig>(node)
    }
}

impl ProcessorFactory for TailSamplingFactory {
    fn build(
        &self,
        node: &Node,
        signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: TailSamplingConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let metrics = SamplerMetrics::new(&ctx);
        let (ledger, lost) = Ledger::open(&ctx.data_dir, &ctx.id);
        if lost.spans > 0 {
            tracing::warn!(
                component = %ctx.id,
                spans = lost.spans,
                traces = lost.traces,
                "The previous run stopped without deciding its pending traces; their spans \
                 were acknowledged and are lost."
            );
            metrics.lost_on_restart.inc_by(lost.spans);
        }
        Ok(BuiltProcessor {
            stage: Box::new(TailSamplingProcessor {
                sampler: TailSampler::new(&config),
                component: ctx.component_metrics(Kind::Processor, signal),
                metrics,
                ledger,
                handed: Handoffs::default(),
                check_handed_at: None,
            }),
            admission_budget: None,
        })
    }
}

pub struct TailSamplingProcessor {
    sampler: TailSampler,
    component: ComponentMetrics,
    metrics: SamplerMetrics,
    ledger: Ledger,
    /// Kept traces handed on, until the downstream answers.
    handed: Handoffs<Vec<PendingTrace>>,
    /// When to read the answers if no request or decision comes first.
    check_handed_at: Option<Instant>,
}

impl TailSamplingProcessor {
    /// Hands kept traces on, each request watched so a refused one can be sent again.
    fn emit(&mut self, out: &mut Vec<Message>, releases: Vec<Release>, now: Instant) {
        for release in releases {
            let mut msg = Message::unacked(Payload::Traces(release.request));
            if !release.traces.is_empty() {
                self.handed.track(&mut msg.acks, release.traces);
            }
            out.push(msg);
        }
        if !self.handed.is_empty() {
            self.check_handed_at
                .get_or_insert(now + resend::RESEND_AFTER);
        }
    }

    /// Reads the downstream's answers: refused kept traces wait to be sent again.
    fn read_answers(&mut self, now: Instant) {
        let sampler = &mut self.sampler;
        self.handed.settle(|traces, outcome| match outcome {
            // Taken downstream: the kept copy is let go here.
            Ok(()) => drop(traces),
            Err(_) => sampler.refused(traces, now),
        });
        // Still unanswered (a later stage holds them): look again in a second, not at
        // once, or the pipeline would spin on a deadline in the past.
        self.check_handed_at = (!self.handed.is_empty()).then(|| now + resend::RESEND_AFTER);
    }

    /// Publishes what the sampler counted and checkpoints the ledger.
    fn settle(&mut self, now: Instant) {
        let tally = std::mem::take(&mut self.sampler.tally);
        if tally.spans_sampled_out > 0 {
            self.component
                .dropped(tally.spans_sampled_out as usize, SAMPLED_OUT);
        }
        if tally.spans_dropped_refused > 0 {
            self.component
                .dropped(tally.spans_dropped_refused as usize, DROPPED_REFUSED);
        }
        if tally.spans_dropped_at_shutdown > 0 {
            self.component.dropped(
                tally.spans_dropped_at_shutdown as usize,
                DROPPED_AT_SHUTDOWN,
            );
        }
        self.metrics.publish(&tally, &self.sampler);
        self.component.set_queue_size(self.sampler.pending_spans());
        self.ledger.record(
            self.sampler.pending_spans(),
            self.sampler.pending_traces(),
            now,
        );
    }
}

impl Processor for TailSamplingProcessor {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) {
        let Payload::Traces(request) = msg.payload else {
            // Built for traces only; anything else goes on untouched.
            out.push(msg);
            return;
        };
        let now = Instant::now();
        self.read_answers(now);
        let ingested = self.sampler.ingest(request, now);
        // Spans of traces already sampled go on with the client's acknowledgement; if
        // none did, dropping `msg.acks` here answers the client: its spans are held.
        if let Some(passed) = ingested.passed {
            out.push(Message::new(Payload::Traces(passed), msg.acks));
        }
        self.emit(out, ingested.decided, now);
        self.settle(now);
    }

    fn deadline(&self) -> Option<Instant> {
        [
            self.sampler.next_deadline(),
            self.ledger.next_checkpoint(),
            self.check_handed_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Message>) {
        self.read_answers(now);
        let decided = self.sampler.decide_due(now);
        self.emit(out, decided, now);
        self.settle(now);
    }

    fn flush(&mut self, out: &mut Vec<Message>) {
        let now = Instant::now();
        self.read_answers(now);
        let decided = self.sampler.decide_all(now);
        self.emit(out, decided, now);
        self.settle(now);
    }
}
