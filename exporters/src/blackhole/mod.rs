//! `blackhole` exporter: accepts and discards everything. For benchmarks: the sending
//! queue in front of it still counts every item as sent.

use std::sync::Arc;

use async_trait::async_trait;
use sentinel_pipeline::config::{check, decode_valid, ComponentConfig, Diagnostic, Node};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, SharedBatch, Signal,
};
use serde::{Deserialize, Serialize};

/// `blackhole` takes only the queue options every exporter has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlackholeConfig {
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
}

impl ComponentConfig for BlackholeConfig {}

pub struct BlackholeFactory;

impl Factory for BlackholeFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "blackhole",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description: "Counts and discards everything (benchmarks)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<BlackholeConfig>(node)
    }
}

impl ExporterFactory for BlackholeFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: BlackholeConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(BuiltExporter {
            exporter: Arc::new(Blackhole),
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        })
    }
}

pub struct Blackhole;

#[async_trait]
impl Exporter for Blackhole {
    async fn export(&self, _payload: Payload) -> Result<(), ExportError> {
        Ok(())
    }

    async fn export_shared(&self, _batch: SharedBatch) -> Result<(), ExportError> {
        Ok(())
    }

    /// Nothing is read, so nothing needs decoding.
    fn takes_encoded(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod compliance;
