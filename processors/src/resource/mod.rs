//! `resource` processor: the same actions as `attributes`, applied to resource attributes.

#[cfg(test)]
mod compliance;

use sentinel_pipeline::config::{
    check, decode_valid, ComponentConfig, Diagnostic, Node, ValidationError,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Processor,
    ProcessorFactory, Signal,
};
use serde::{Deserialize, Serialize};

use crate::actions::{self, ActionConfig};

/// `resource`: changes the attributes of every resource (e.g. add `host.name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// Applied in order to each resource's attributes.
    pub attributes: Vec<ActionConfig>,
}

impl ComponentConfig for ResourceConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        actions::validate(&self.attributes)
    }
}

pub struct ResourceFactory;

impl Factory for ResourceFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "resource",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description: "Inserts, updates, upserts or deletes resource attributes",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<ResourceConfig>(node)
    }
}

impl ProcessorFactory for ResourceFactory {
    fn build(
        &self,
        node: &Node,
        _signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: ResourceConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(BuiltProcessor {
            stage: Box::new(ResourceProcessor {
                actions: config.attributes,
            }),
            admission_budget: None,
        })
    }
}

pub struct ResourceProcessor {
    actions: Vec<ActionConfig>,
}

impl Processor for ResourceProcessor {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        visit::for_each_resource_mut(&mut msg.payload, |resource| {
            let resource = resource.get_or_insert_with(Resource::default);
            actions::apply(&self.actions, &mut resource.attributes);
        });
        out.push(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{ActionKind, AttributeValue};
    use crate::test_data::spans;
    use sentinel_pipeline::Payload;

    #[test]
    fn changes_resource_attributes_only() {
        let mut p = ResourceProcessor {
            actions: vec![
                ActionConfig {
                    key: "host.name".into(),
                    value: Some(AttributeValue::String("node-1".into())),
                    from_attribute: None,
                    action: ActionKind::Insert,
                },
                ActionConfig {
                    key: "service.name".into(),
                    value: Some(AttributeValue::String("renamed".into())),
                    from_attribute: None,
                    action: ActionKind::Update,
                },
            ],
        };
        let mut out = Vec::new();
        p.process(Message::unacked(spans("svc", 2)), &mut out);
        let Payload::Traces(req) = &out[0].payload else {
            panic!()
        };
        let attrs = &req.resource_spans[0].resource.as_ref().unwrap().attributes;
        let keys: Vec<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["service.name", "host.name"]);
        assert_eq!(
            format!("{:?}", attrs[0].value),
            format!("{:?}", crate::test_data::kv("x", "renamed").value)
        );
        assert_eq!(
            req.resource_spans[0].scope_spans[0].spans[0]
                .attributes
                .len(),
            1
        );
    }
}
