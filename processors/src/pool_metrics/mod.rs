//! `pool_metrics` processor: normalises connection-pool metrics that applications send
//! over OTLP to the current `db.client.connection.*` conventions, so alerts and
//! dashboards see one vocabulary whatever version of the conventions an SDK follows.
//!
//! - `db.client.connections.*` metrics are renamed to `db.client.connection.*`
//!   (`usage` becomes `count`); the time metrics (`create_time`, `wait_time`,
//!   `use_time`) move from `ms` to `s`, values and histogram bounds included.
//! - On every `db.client.connection.*` metric, the attributes `pool.name` and `state`
//!   become `db.client.connection.pool.name` and `db.client.connection.state` (when both
//!   the old and new key are present, the new one wins).
//!
//! An exponential histogram in `ms` cannot be rescaled to `s` exactly (its buckets are
//! powers of two), so it passes through unchanged under its deprecated name and is
//! logged once. Nothing is dropped.

#[cfg(test)]
mod compliance;
mod normalise;
#[cfg(test)]
mod tests;

use sentinel_pipeline::config::{check, decode_valid, ComponentConfig, Diagnostic, Node};
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Payload,
    Processor, ProcessorFactory, Signal,
};
use serde::{Deserialize, Serialize};

pub use normalise::{normalise_metric, Outcome};

/// `pool_metrics`: has no settings; written `pool_metrics:` with nothing under it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolMetricsConfig {}

impl ComponentConfig for PoolMetricsConfig {}

pub struct PoolMetricsFactory;

impl Factory for PoolMetricsFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "pool_metrics",
            kind: Kind::Processor,
            signals: &[Signal::Metrics],
            description: "Renames deprecated db.client.connections.* pool metrics and attributes to the current db.client.connection.* conventions (ms → s)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<PoolMetricsConfig>(node)
    }
}

impl ProcessorFactory for PoolMetricsFactory {
    fn build(
        &self,
        node: &Node,
        signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let _config: PoolMetricsConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        // Registers the component's six self-metrics; the runtime counts received and
        // sent, and this processor never drops.
        let _metrics = ctx.component_metrics(Kind::Processor, signal);
        Ok(BuiltProcessor {
            stage: Box::new(PoolMetricsProcessor {
                id: ctx.id,
                logged_unconverted: false,
            }),
            admission_budget: None,
        })
    }
}

pub struct PoolMetricsProcessor {
    id: String,
    logged_unconverted: bool,
}

impl Processor for PoolMetricsProcessor {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        if let Payload::Metrics(request) = &mut msg.payload {
            visit::for_each_item_mut(request, |_, _, metric| {
                if normalise_metric(metric) == Outcome::UnitNotConverted && !self.logged_unconverted
                {
                    self.logged_unconverted = true;
                    tracing::warn!(component = %self.id, metric = %metric.name,
                        "exponential histogram in ms passed through under its deprecated name: \
                         it cannot be rescaled to s; logged once");
                }
            });
        }
        out.push(msg);
    }
}
