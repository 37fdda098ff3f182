//! `hook_metrics` connector: derives metrics from the `hooks` receiver's
//! `claude_code.hook.*` log records, for a downstream metrics pipeline. All sums are
//! deltas (one data point per message):
//! - `sentinel.hook.tool_calls{gen_ai.tool.name, outcome}`: `success` (PostToolUse),
//!   `failure` (PostToolUseFailure), `blocked` (PreToolUse the policy denied);
//! - `sentinel.hook.tool_duration{gen_ai.tool.name}` (histogram, ms): `duration_ms` when
//!   Claude Code sent it, else PreToolUse → PostToolUse time paired by `tool_use_id`;
//! - `sentinel.hook.blocked{sentinel.policy.rule_id}`;
//! - `sentinel.hook.sessions` (SessionStart), `sentinel.hook.prompts` (UserPromptSubmit),
//!   `sentinel.hook.subagent_runs{agent.type}` (SubagentStop: counted when a run ends).

#[cfg(test)]
mod compliance;
mod derive;
mod pairing;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentinel_pipeline::config::{check, ComponentConfig, Diagnostic, Node, ValidationError};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, ComponentMetrics, Connector, ConnectorFactory,
    Factory, Kind, Message, Outputs, Payload, Refusal, Signal,
};
use serde::{Deserialize, Serialize};

pub use derive::DURATION_BOUNDS_MS;
use pairing::PendingCalls;

/// `connectors.hook_metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookMetricsConfig {
    /// Tool calls (PreToolUse without `duration_ms` yet) remembered at most, to time them
    /// when their PostToolUse arrives. The oldest are forgotten first, counted as dropped.
    /// Default 10000.
    pub max_pending_tool_calls: usize,
    /// A PreToolUse whose PostToolUse has not come after this long is forgotten (counted
    /// as dropped). Default `1h`.
    #[serde(with = "humantime_serde")]
    pub pending_expiry: Duration,
}

impl Default for HookMetricsConfig {
    fn default() -> Self {
        HookMetricsConfig {
            max_pending_tool_calls: 10_000,
            pending_expiry: Duration::from_secs(3600),
        }
    }
}

impl ComponentConfig for HookMetricsConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.max_pending_tool_calls == 0 || self.max_pending_tool_calls > 10_000_000 {
            return Err(ValidationError::at(
                "max_pending_tool_calls",
                format!(
                    "must be from 1 to 10000000, got {}",
                    self.max_pending_tool_calls
                ),
            ));
        }
        if self.pending_expiry.is_zero() {
            return Err(ValidationError::at("pending_expiry", "must be more than 0"));
        }
        Ok(())
    }
}

pub struct HookMetricsFactory;

impl Factory for HookMetricsFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "hook_metrics",
            kind: Kind::Connector,
            signals: &[Signal::Logs, Signal::Metrics],
            description: "Derives tool-call, duration, blocked, session and prompt metrics from Claude Code hook logs",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<HookMetricsConfig>(node)
    }
}

impl ConnectorFactory for HookMetricsFactory {
    fn input_signals(&self) -> &'static [Signal] {
        &[Signal::Logs]
    }

    fn output_signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        let config: HookMetricsConfig = sentinel_pipeline::config::decode_valid(node)
            .map_err(|diagnostics| BuildError::config(&ctx.id, diagnostics))?;
        Ok(Arc::new(HookMetrics {
            pending: Mutex::new(PendingCalls::new(
                config.max_pending_tool_calls,
                config.pending_expiry,
            )),
            metrics: ctx.component_metrics(Kind::Connector, Signal::Logs),
        }))
    }
}

pub struct HookMetrics {
    pending: Mutex<PendingCalls>,
    metrics: ComponentMetrics,
}

impl Connector for HookMetrics {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let items = msg.payload.item_count();
        self.metrics.received(items);
        let Payload::Logs(request) = &msg.payload else {
            return Ok(());
        };
        let derivation = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let derivation = derive::derive(request, &mut pending);
            self.metrics.set_queue_size(pending.len());
            derivation
        };
        let evicted = derivation.evicted;
        if evicted.expired > 0 {
            self.metrics.dropped(
                evicted.expired,
                "tool call never finished within pending_expiry",
            );
        }
        if evicted.overflowed > 0 {
            self.metrics.dropped(
                evicted.overflowed,
                "more unfinished tool calls than max_pending_tool_calls",
            );
        }
        let (Some(metrics), Some(output)) = (derivation.metrics, outputs.get(&Signal::Metrics))
        else {
            // Nothing to emit: dropping the acks acknowledges the upstream data.
            return Ok(());
        };
        // The metrics carry the upstream acks: the client is answered once they are queued.
        let derived = Message::new(Payload::Metrics(metrics), msg.acks);
        let emitted = derived.payload.item_count();
        match output.send(derived) {
            Ok(()) => {
                self.metrics.sent(emitted);
                Ok(())
            }
            Err(refusal) => {
                self.metrics.refused(items);
                Err(refusal)
            }
        }
    }
}
