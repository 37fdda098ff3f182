//! `debug` exporter: logs what it receives, at three levels of detail.

#[cfg(test)]
mod compliance;

use std::sync::Arc;

use async_trait::async_trait;
use sentinel_pipeline::config::{check, decode_valid, ComponentConfig, Diagnostic, Node};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, Signal,
};
use serde::{Deserialize, Serialize};

/// `debug`: prints received data to the agent's log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `basic`: one line per export with item counts; `normal`: one line per span, log
    /// record or metric; `detailed`: every field of every request.
    pub verbosity: Verbosity,
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    #[default]
    Basic,
    Normal,
    Detailed,
}

impl ComponentConfig for DebugConfig {}

pub struct DebugFactory;

impl Factory for DebugFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "debug",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description: "Logs received data (basic, normal or detailed)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<DebugConfig>(node)
    }
}

impl ExporterFactory for DebugFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: DebugConfig = decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(BuiltExporter {
            exporter: Arc::new(DebugExporter {
                id: ctx.id,
                verbosity: config.verbosity,
            }),
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        })
    }
}

pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
}

/// One line per item, for `normal`.
pub fn item_lines(payload: &Payload) -> Vec<String> {
    match payload {
        Payload::Traces(req) => req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| {
                format!(
                    "span {} trace_id={} span_id={} attributes={}",
                    s.name,
                    hex(&s.trace_id),
                    hex(&s.span_id),
                    s.attributes.len()
                )
            })
            .collect(),
        Payload::Metrics(req) => req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| {
                let points = sentinel_pipeline::signal::data_point_count(m.data.as_ref());
                format!("metric {} points={points}", m.name)
            })
            .collect(),
        Payload::Logs(req) => req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| {
                format!(
                    "log severity={} body={:?}",
                    l.severity_text,
                    l.body.as_ref().and_then(|b| b.value.as_ref())
                )
            })
            .collect(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let signal = payload.signal();
        let items = payload.item_count();
        match self.verbosity {
            Verbosity::Basic => {
                tracing::info!(exporter = %self.id, %signal, items, "Received data.");
            }
            Verbosity::Normal => {
                for line in item_lines(&payload) {
                    tracing::info!(exporter = %self.id, %signal, "{line}");
                }
            }
            Verbosity::Detailed => {
                tracing::info!(exporter = %self.id, %signal, items, "{payload:#?}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    #[tokio::test]
    async fn every_verbosity_exports_and_normal_lists_each_item() {
        let payload = Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        Span {
                            name: "a".into(),
                            span_id: vec![1, 2],
                            ..Default::default()
                        },
                        Span {
                            name: "b".into(),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let lines = item_lines(&payload);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("span a ") && lines[0].contains("span_id=0102"),
            "{}",
            lines[0]
        );
        for verbosity in [Verbosity::Basic, Verbosity::Normal, Verbosity::Detailed] {
            let exporter = DebugExporter {
                id: "debug".into(),
                verbosity,
            };
            exporter.export(payload.clone()).await.unwrap();
        }
    }
}
