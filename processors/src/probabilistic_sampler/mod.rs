//! `probabilistic_sampler` processor: keeps a consistent share of traces and log records
//! (OTEP 235 thresholds, or the Collector's seeded hash); see
//! [`ProbabilisticSamplerConfig`].

#[cfg(test)]
mod compliance;
mod config;
mod sampler;
#[cfg(test)]
mod tests;
pub mod threshold;
pub mod tracestate;

use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, ComponentMetrics, Factory, Kind,
    Message, Payload, Processor, ProcessorFactory, Signal,
};

pub use config::{AttributeSource, ProbabilisticSamplerConfig, SamplerMode};
pub use sampler::{Outcome, Sampler};

const SAMPLED_OUT: &str = "sampled out";
const NO_RANDOMNESS: &str = "no usable randomness (fail_closed)";

pub struct ProbabilisticSamplerFactory;

impl Factory for ProbabilisticSamplerFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "probabilistic_sampler",
            kind: Kind::Processor,
            signals: &[Signal::Traces, Signal::Logs],
            description: "Keeps a consistent share of traces and log records (OTEP 235 thresholds)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<ProbabilisticSamplerConfig>(node)
    }
}

impl ProcessorFactory for ProbabilisticSamplerFactory {
    fn build(
        &self,
        node: &Node,
        signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: ProbabilisticSamplerConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(BuiltProcessor {
            stage: Box::new(ProbabilisticSampler {
                sampler: Sampler::new(&config),
                metrics: ctx.component_metrics(Kind::Processor, signal),
            }),
            admission_budget: None,
        })
    }
}

pub struct ProbabilisticSampler {
    sampler: Sampler,
    metrics: ComponentMetrics,
}

/// Items dropped from one request, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub sampled_out: usize,
    pub no_randomness: usize,
}

impl Tally {
    /// Counts a dropped outcome; whether the item stays.
    fn keeps(&mut self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Keep(_) => return true,
            Outcome::SampledOut => self.sampled_out += 1,
            Outcome::NoRandomness => self.no_randomness += 1,
        }
        false
    }
}

impl Processor for ProbabilisticSampler {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        let tally = match &mut msg.payload {
            Payload::Traces(req) => sample_traces(&self.sampler, req),
            Payload::Logs(req) => sample_logs(&self.sampler, req),
            Payload::Metrics(_) => Tally::default(),
        };
        if tally.sampled_out > 0 {
            self.metrics.dropped(tally.sampled_out, SAMPLED_OUT);
        }
        if tally.no_randomness > 0 {
            self.metrics.dropped(tally.no_randomness, NO_RANDOMNESS);
        }
        // Nothing left: the request is done, and its client is answered as delivered.
        if msg.payload.item_count() == 0 && tally != Tally::default() {
            return;
        }
        out.push(msg);
    }
}

/// Removes the spans sampled out (and the scopes and resources that leaves empty) and
/// writes the threshold on the spans kept.
pub fn sample_traces(sampler: &Sampler, req: &mut ExportTraceServiceRequest) -> Tally {
    let mut tally = Tally::default();
    visit::retain_items_mut(req, |_, _, span| {
        let outcome = sampler.span(span);
        if let Outcome::Keep(Some(th)) = &outcome {
            span.trace_state = tracestate::with_threshold(&span.trace_state, th);
        }
        tally.keeps(&outcome)
    });
    visit::remove_empty(req);
    tally
}

/// As [`sample_traces`], with the threshold in the `sampling.threshold` attribute.
pub fn sample_logs(sampler: &Sampler, req: &mut ExportLogsServiceRequest) -> Tally {
    let mut tally = Tally::default();
    visit::retain_items_mut(req, |_, _, record| {
        let outcome = sampler.log_record(record);
        if let Outcome::Keep(Some(th)) = &outcome {
            sampler::set_log_threshold(record, th.clone());
        }
        tally.keeps(&outcome)
    });
    visit::remove_empty(req);
    tally
}
