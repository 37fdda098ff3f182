//! `dedup` processor: drops exact duplicate spans and metric data points, remembered in a
//! fixed-size seen-set, and gathers duplicate log records into one record per `interval`
//! (the Collector's `logdedup`). See [`DedupConfig`] and docs/dedup.md.

#[cfg(test)]
mod compliance;
mod config;
mod drop;
mod inflight;
pub mod key;
mod logs;
pub mod seen;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::telemetry::ComponentLabels;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, ComponentMetrics, Factory, Kind,
    Message, Payload, Processor, ProcessorFactory, Signal,
};
use tokio::time::Instant;

pub use config::DedupConfig;
pub use logs::{FIRST_OBSERVED, LAST_OBSERVED};
pub use seen::{SeenSet, Sizing};

use inflight::InFlight;
use logs::LogAggregator;

pub struct DedupFactory;

impl Factory for DedupFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "dedup",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description:
                "Drops duplicate spans and data points; gathers duplicate log records into one",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<DedupConfig>(node)
    }
}

impl ProcessorFactory for DedupFactory {
    fn build(
        &self,
        node: &Node,
        signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: DedupConfig = decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let labels = ComponentLabels {
            component_kind: Kind::Processor.as_str().to_string(),
            component_id: ctx.id.clone(),
            signal: signal.as_str().to_string(),
        };
        let early: Family<ComponentLabels, Counter<u64, AtomicU64>> = ctx.metrics.family(
            "dedup_early_rotations",
            "Seen-set generations of dedup forgotten before their window because they were full",
            Family::default,
        );
        let early_rotations = early.get_or_create(&labels).clone();
        let early: Family<ComponentLabels, Counter<u64, AtomicU64>> = ctx.metrics.family(
            "dedup_early_emits",
            "Times dedup emitted its gathered log records before the interval ended because max_pending_logs was reached",
            Family::default,
        );
        let early_emits = early.get_or_create(&labels).clone();
        let state = match signal {
            Signal::Logs => State::Logs(LogAggregator::new(&config)),
            Signal::Traces | Signal::Metrics => State::Seen(
                SeenSet::new(
                    config.max_memory_mib * 1024 * 1024,
                    config.false_positive_rate,
                    config.window,
                ),
                InFlight::default(),
            ),
        };
        Ok(BuiltProcessor {
            stage: Box::new(DedupProcessor {
                metrics: ctx.component_metrics(Kind::Processor, signal),
                state,
                early_rotations,
                early_emits,
                counted_early: 0,
            }),
            admission_budget: None,
        })
    }
}

enum State {
    Seen(SeenSet, InFlight),
    Logs(LogAggregator),
}

pub struct DedupProcessor {
    metrics: ComponentMetrics,
    state: State,
    early_rotations: Counter<u64, AtomicU64>,
    early_emits: Counter<u64, AtomicU64>,
    /// Early rotations or emits already added to their counter.
    counted_early: u64,
}

impl DedupProcessor {
    fn count_early(&mut self) {
        let (total, counter) = match &self.state {
            State::Seen(seen, _) => (seen.early_rotations, &self.early_rotations),
            State::Logs(logs) => (logs.early_emits, &self.early_emits),
        };
        counter.inc_by(total - self.counted_early);
        self.counted_early = total;
    }
}

impl Processor for DedupProcessor {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        let dropped = match &mut self.state {
            State::Seen(seen, in_flight) => {
                seen.rotate_if_due(Instant::now());
                in_flight.settle(|key| seen.insert(key));
                let mut passed = Vec::new();
                let mut duplicate = |key| {
                    let known = in_flight.contains(key) || seen.seen_before(key);
                    if !known {
                        in_flight.add(key);
                        passed.push(key);
                    }
                    known
                };
                let dropped = match &mut msg.payload {
                    Payload::Traces(req) => drop::traces(req, &mut duplicate),
                    Payload::Metrics(req) => drop::metrics(req, &mut duplicate),
                    // Built for traces or metrics only.
                    Payload::Logs(_) => 0,
                };
                if !passed.is_empty() {
                    in_flight.track(&mut msg.acks, passed);
                }
                dropped
            }
            State::Logs(logs) => match msg.payload {
                Payload::Logs(req) if !req.resource_logs.is_empty() => {
                    let aggregated = logs.add(req, msg.acks, SystemTime::now(), out);
                    if aggregated > 0 {
                        self.metrics.dropped(aggregated, "aggregated");
                    }
                    self.count_early();
                    return;
                }
                payload => {
                    msg.payload = payload;
                    0
                }
            },
        };
        if dropped > 0 {
            self.metrics.dropped(dropped, "duplicate");
        }
        self.count_early();
        // Nothing left: the request is done, and its client is answered as delivered.
        if !msg.payload.is_empty() {
            out.push(msg);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Logs(logs) => logs.deadline(),
            State::Seen(..) => None,
        }
    }

    fn on_deadline(&mut self, _now: Instant, out: &mut Vec<Message>) {
        if let State::Logs(logs) = &mut self.state {
            logs.emit(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Message>) {
        self.on_deadline(Instant::now(), out);
    }
}
