//! The sampler's own metrics, beside the six every component has (pending spans are its
//! queue size; spans of traces not sampled are dropped with reason "sampled out").

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sentinel_pipeline::BuildContext;

use super::sampler::{EarlyReason, TailSampler, Tally};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    component_id: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    component_id: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdLabels {
    component_id: String,
}

type Counters<L> = Family<L, Counter<u64, AtomicU64>>;

pub struct SamplerMetrics {
    early: [Counter<u64, AtomicU64>; 4],
    traces_sampled: Counter<u64, AtomicU64>,
    traces_not_sampled: Counter<u64, AtomicU64>,
    late_sampled: Counter<u64, AtomicU64>,
    late_not_sampled: Counter<u64, AtomicU64>,
    pending_traces: Gauge,
    pending_bytes: Gauge,
    pub lost_on_restart: Counter<u64, AtomicU64>,
    refused: Counter<u64, AtomicU64>,
}

impl SamplerMetrics {
    pub fn new(ctx: &BuildContext) -> SamplerMetrics {
        let id = ctx.id.clone();
        let early: Counters<ReasonLabels> = ctx.metrics.family(
            "tail_sampling_early_decisions",
            "Traces tail_sampling decided before decision_wait, by reason",
            Family::default,
        );
        let decided: Counters<DecisionLabels> = ctx.metrics.family(
            "tail_sampling_traces_decided",
            "Traces tail_sampling decided, by decision",
            Family::default,
        );
        let late: Counters<DecisionLabels> = ctx.metrics.family(
            "tail_sampling_late_spans",
            "Spans that arrived after their trace was decided and followed the cached decision",
            Family::default,
        );
        let lost: Counters<IdLabels> = ctx.metrics.family(
            "tail_sampling_lost_on_restart_spans",
            "Spans the previous run held, acknowledged, when it stopped without a clean shutdown",
            Family::default,
        );
        let refused: Counters<IdLabels> = ctx.metrics.family(
            "tail_sampling_refused_spans",
            "Spans of kept traces an exporter queue refused; they are held and sent again",
            Family::default,
        );
        let traces: Family<IdLabels, Gauge> = ctx.metrics.family(
            "tail_sampling_pending_traces",
            "Traces waiting for their decision",
            Family::default,
        );
        let bytes: Family<IdLabels, Gauge> = ctx.metrics.family(
            "tail_sampling_pending_bytes",
            "Estimated bytes held by traces waiting for their decision",
            Family::default,
        );
        let reason = |r: EarlyReason| {
            early
                .get_or_create(&ReasonLabels {
                    component_id: id.clone(),
                    reason: r.as_str().to_string(),
                })
                .clone()
        };
        let decision = |family: &Counters<DecisionLabels>, d: &str| {
            family
                .get_or_create(&DecisionLabels {
                    component_id: id.clone(),
                    decision: d.to_string(),
                })
                .clone()
        };
        let own = IdLabels {
            component_id: id.clone(),
        };
        let pending_traces = traces.get_or_create(&own).clone();
        let pending_bytes = bytes.get_or_create(&own).clone();
        let lost_on_restart = lost.get_or_create(&own).clone();
        let refused = refused.get_or_create(&own).clone();
        SamplerMetrics {
            early: EarlyReason::ALL.map(reason),
            traces_sampled: decision(&decided, "sampled"),
            traces_not_sampled: decision(&decided, "not_sampled"),
            late_sampled: decision(&late, "sampled"),
            late_not_sampled: decision(&late, "not_sampled"),
            pending_traces,
            pending_bytes,
            lost_on_restart,
            refused,
        }
    }

    pub fn publish(&self, tally: &Tally, sampler: &TailSampler) {
        for (counter, count) in self.early.iter().zip(tally.early) {
            counter.inc_by(count);
        }
        self.traces_sampled.inc_by(tally.traces_sampled);
        self.traces_not_sampled.inc_by(tally.traces_not_sampled);
        self.late_sampled.inc_by(tally.late_spans_sampled);
        self.late_not_sampled.inc_by(tally.late_spans_not_sampled);
        self.refused.inc_by(tally.spans_refused);
        self.pending_traces.set(sampler.pending_traces() as i64);
        self.pending_bytes.set(sampler.pending_bytes() as i64);
    }
}
