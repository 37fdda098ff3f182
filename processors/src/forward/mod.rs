//! `forward` connector: passes data unchanged from the pipelines that export to it to the
//! pipelines that receive from it (same signal).

use sentinel_pipeline::config::{check, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, ComponentMetrics, Connector, ConnectorFactory,
    Factory, Kind, Message, Outputs, Refusal, Signal,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `forward` has no options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {}

impl sentinel_pipeline::config::ComponentConfig for ForwardConfig {}

pub struct ForwardFactory;

impl Factory for ForwardFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "forward",
            kind: Kind::Connector,
            signals: &Signal::ALL,
            description: "Joins pipelines of the same signal",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<ForwardConfig>(node)
    }
}

impl ConnectorFactory for ForwardFactory {
    fn input_signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn output_signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, _node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        let metrics = Signal::ALL
            .into_iter()
            .map(|s| (s, ctx.component_metrics(Kind::Connector, s)))
            .collect();
        Ok(Arc::new(Forward { metrics }))
    }
}

pub struct Forward {
    metrics: BTreeMap<Signal, ComponentMetrics>,
}

impl Connector for Forward {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let signal = msg.payload.signal();
        let items = msg.payload.item_count();
        let metrics = &self.metrics[&signal];
        metrics.received(items);
        let Some(output) = outputs.get(&signal) else {
            metrics.dropped(items, "no downstream pipeline for this signal");
            return Ok(());
        };
        match output.send(msg) {
            Ok(()) => {
                metrics.sent(items);
                Ok(())
            }
            Err(refusal) => {
                metrics.refused(items);
                Err(refusal)
            }
        }
    }
}

#[cfg(test)]
mod compliance;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_support;
