//! `attributes` processor: insert, update, upsert or delete attributes of spans, log
//! records and metric data points, matched by key.

#[cfg(test)]
mod compliance;
#[cfg(test)]
mod tests;

use sentinel_pipeline::config::{
    check, decode_valid, ComponentConfig, Diagnostic, Node, ValidationError,
};
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Processor,
    ProcessorFactory, Signal,
};
use serde::{Deserialize, Serialize};

use crate::actions::{self, ActionConfig};

/// `attributes`: changes the attributes of every span, log record or data point.
/// `include`/`exclude` matching is not supported: actions apply to every item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    /// Applied in order to each item's attributes.
    pub actions: Vec<ActionConfig>,
}

impl ComponentConfig for AttributesConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        actions::validate(&self.actions)
    }
}

pub struct AttributesFactory;

impl Factory for AttributesFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "attributes",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description: "Inserts, updates, upserts or deletes item attributes",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<AttributesConfig>(node)
    }
}

impl ProcessorFactory for AttributesFactory {
    fn build(
        &self,
        node: &Node,
        _signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: AttributesConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(BuiltProcessor {
            stage: Box::new(AttributesProcessor {
                actions: config.actions,
            }),
            admission_budget: None,
        })
    }
}

pub struct AttributesProcessor {
    actions: Vec<ActionConfig>,
}

impl AttributesProcessor {
    pub fn new(actions: Vec<ActionConfig>) -> Self {
        AttributesProcessor { actions }
    }
}

impl Processor for AttributesProcessor {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        visit::for_each_item_attributes_mut(&mut msg.payload, |attributes| {
            actions::apply(&self.actions, attributes)
        });
        out.push(msg);
    }
}
