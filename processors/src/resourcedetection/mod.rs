//! `resourcedetection` processor: the host's identity (`host.name`, `host.id`, `os.type`,
//! …) and `OTEL_RESOURCE_ATTRIBUTES` on every resource, detected once at start, with the
//! Collector's keys (`detectors: [env, system]`, `override`, `timeout`, `system: …`).

#[cfg(test)]
mod compliance;
pub mod config;
pub mod detect;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Processor,
    ProcessorFactory, Signal,
};

pub use config::ResourceDetectionConfig;

pub struct ResourceDetectionFactory;

impl Factory for ResourceDetectionFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "resourcedetection",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description:
                "Adds host.name, host.id, os.type and OTEL_RESOURCE_ATTRIBUTES to resources",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<ResourceDetectionConfig>(node)
    }
}

impl ProcessorFactory for ResourceDetectionFactory {
    fn build(
        &self,
        node: &Node,
        _signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: ResourceDetectionConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let detected = detect::detect_once(&config);
        Ok(BuiltProcessor {
            stage: Box::new(ResourceDetectionProcessor {
                detected,
                override_existing: config.override_existing,
            }),
            admission_budget: None,
        })
    }
}

pub struct ResourceDetectionProcessor {
    detected: Arc<Vec<KeyValue>>,
    override_existing: bool,
}

impl ResourceDetectionProcessor {
    pub fn new(detected: Vec<KeyValue>, override_existing: bool) -> Self {
        ResourceDetectionProcessor {
            detected: Arc::new(detected),
            override_existing,
        }
    }
}

impl Processor for ResourceDetectionProcessor {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        visit::for_each_resource_mut(&mut msg.payload, |resource| {
            let attributes = &mut resource.get_or_insert_with(Resource::default).attributes;
            for kv in self.detected.iter() {
                match attributes.iter_mut().find(|a| a.key == kv.key) {
                    Some(existing) if self.override_existing => existing.value = kv.value.clone(),
                    Some(_) => {}
                    None => attributes.push(kv.clone()),
                }
            }
        });
        out.push(msg);
    }
}
