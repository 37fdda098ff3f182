//! `attributes` processor: insert, update, upsert or delete attributes of spans, log
//! records and metric data points, matched by key.

#[cfg(test)]
mod tests;

use sentinel_pipeline::config::{check, decode_valid, ComponentConfig, Diagnostic, Node};
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Payload,
    Processor, ProcessorFactory, Signal,
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
    fn validate(&self) -> Result<(), String> {
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
        for_each_item_attributes(&mut msg.payload, |attrs| {
            actions::apply(&self.actions, attrs)
        });
        out.push(msg);
    }
}

/// Calls `f` on the attribute list of every span, log record and data point.
fn for_each_item_attributes(payload: &mut Payload, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match payload {
        Payload::Traces(req) => req
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
            .for_each(|span| f(&mut span.attributes)),
        Payload::Logs(req) => req
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
            .for_each(|log| f(&mut log.attributes)),
        Payload::Metrics(req) => req
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
            .filter_map(|m| m.data.as_mut())
            .for_each(|data| match data {
                Data::Gauge(g) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
                Data::Sum(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
                Data::Histogram(h) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
                Data::ExponentialHistogram(h) => {
                    h.data_points.iter_mut().for_each(|p| f(&mut p.attributes))
                }
                Data::Summary(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
            }),
    }
}
