use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

use super::policy_config::PolicyConfig;

/// `tail_sampling`: holds each trace's spans until `decision_wait` after its first span,
/// then keeps or drops the whole trace by its policies, with the OpenTelemetry
/// Collector's keys and policy names:
///
/// ```yaml
/// tail_sampling:
///   decision_wait: 30s
///   num_traces: 50000
///   max_memory_mib: 64                  # all pending spans together
///   maximum_trace_size_bytes: 4194304   # one trace; past it the trace is decided early
///   decision_cache:
///     sampled_cache_size: 100000
///     non_sampled_cache_size: 100000
///   policies:
///     - name: errors
///       type: status_code
///       status_code: {status_codes: [ERROR]}
///     - name: slow
///       type: latency
///       latency: {threshold_ms: 500}
///     - name: some-of-the-rest
///       type: probabilistic
///       probabilistic: {sampling_percentage: 10}
/// ```
///
/// A trace is sampled when a policy samples it and no `drop` policy (or deprecated
/// inverted match) vetoes it, as in the Collector. Unlike the Collector, memory is a byte
/// budget: past `max_memory_mib` the oldest pending traces, and past
/// `maximum_trace_size_bytes` the oversized trace, are decided early with the spans they
/// have, never dropped undecided; `sentinel_tail_sampling_early_decisions_total` counts
/// each by reason. Spans arriving after their trace was decided follow the cached
/// decision (both caches are on by default).
///
/// Acknowledgement: a client is answered once its spans are held by the sampler, so it
/// never waits `decision_wait`. Spans pending when the agent is killed are lost; the
/// sampler keeps a small ledger in `<data_dir>/tail_sampling/` and on the next start logs
/// and counts them in `sentinel_tail_sampling_lost_on_restart_spans_total`. A clean
/// shutdown decides every pending trace first (or drops them, counted, with
/// `drop_pending_traces_on_shutdown`). A kept trace an exporter queue refuses is held
/// (within the budget) and sent again a second later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSamplingConfig {
    /// How long after its first span a trace is decided (default `30s`).
    #[serde(with = "humantime_serde")]
    pub decision_wait: Duration,
    /// The most traces pending at once (default `50000`); one more decides the oldest
    /// early, counted with reason `num_traces`.
    pub num_traces: usize,
    /// A hint for the pending-trace table's initial size (default `0`).
    pub expected_new_traces_per_sec: usize,
    /// The byte budget over all pending traces (default `64`): their spans, held
    /// encoded, as the allocator holds them, plus 256 bytes of bookkeeping per trace and
    /// each resource and scope once. Past it, the oldest pending traces are decided early,
    /// counted with reason `memory_budget`.
    pub max_memory_mib: u64,
    /// The most bytes one pending trace may hold (default 4 MiB). A trace reaching it is
    /// decided at once with the spans it has, counted with reason `trace_size`; its later
    /// spans follow that decision, so one huge trace cannot crowd out the others.
    pub maximum_trace_size_bytes: u64,
    /// Remembers decided trace IDs so that late spans follow their trace's decision.
    pub decision_cache: DecisionCacheConfig,
    /// Decide as soon as one policy samples, without evaluating the rest (default
    /// false). `drop` policies are always evaluated first.
    pub sample_on_first_match: bool,
    /// At shutdown, drop pending traces (counted) instead of deciding them with the spans
    /// they have (default false).
    pub drop_pending_traces_on_shutdown: bool,
    /// The policies, evaluated in order. At least one.
    pub policies: Vec<PolicyConfig>,
}

impl Default for TailSamplingConfig {
    fn default() -> Self {
        TailSamplingConfig {
            decision_wait: Duration::from_secs(30),
            num_traces: 50_000,
            expected_new_traces_per_sec: 0,
            max_memory_mib: 64,
            maximum_trace_size_bytes: 4 * 1024 * 1024,
            decision_cache: DecisionCacheConfig::default(),
            sample_on_first_match: false,
            drop_pending_traces_on_shutdown: false,
            policies: Vec::new(),
        }
    }
}

/// The decision caches. Each holds the most recent trace IDs decided one way, about 25
/// bytes per entry; 0 turns a cache off. Unlike the Collector, both are on by default:
/// without them a late span starts a new, partial trace that is decided on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCacheConfig {
    /// Trace IDs decided "sampled" to remember (default `100000`).
    pub sampled_cache_size: usize,
    /// Trace IDs decided "not sampled" to remember (default `100000`).
    pub non_sampled_cache_size: usize,
}

impl Default for DecisionCacheConfig {
    fn default() -> Self {
        DecisionCacheConfig {
            sampled_cache_size: 100_000,
            non_sampled_cache_size: 100_000,
        }
    }
}

impl TailSamplingConfig {
    pub fn max_memory_bytes(&self) -> usize {
        (self.max_memory_mib as usize) * 1024 * 1024
    }
}

impl ComponentConfig for TailSamplingConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.decision_wait.is_zero() {
            return Err(ValidationError::at(
                "decision_wait",
                "must be greater than 0",
            ));
        }
        if self.num_traces == 0 {
            return Err(ValidationError::at("num_traces", "must be greater than 0"));
        }
        if self.max_memory_mib == 0 || self.max_memory_mib > 64 * 1024 {
            return Err(ValidationError::at(
                "max_memory_mib",
                "must be between 1 and 65536",
            ));
        }
        let budget = self.max_memory_mib * 1024 * 1024;
        if self.maximum_trace_size_bytes < 1024 || self.maximum_trace_size_bytes > budget {
            return Err(ValidationError::at(
                "maximum_trace_size_bytes",
                format!("must be between 1024 and max_memory_mib ({budget} bytes)"),
            ));
        }
        if self.policies.is_empty() {
            return Err(ValidationError::at(
                "policies",
                "at least one policy is required",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (index, policy) in self.policies.iter().enumerate() {
            let path = format!("policies.{index}");
            if !names.insert(policy.name.as_str()) {
                return Err(ValidationError::at(
                    format!("{path}.name"),
                    format!("`{}` names two policies", policy.name),
                ));
            }
            policy.validate(0).map_err(|err| err.within(&path))?;
        }
        Ok(())
    }
}
