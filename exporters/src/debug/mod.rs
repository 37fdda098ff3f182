//! `debug` exporter: logs what it receives, at three levels of detail.

#[cfg(test)]
mod compliance;

use std::sync::Arc;

use async_trait::async_trait;
use sentinel_pipeline::config::{check, decode_valid, ComponentConfig, Diagnostic, Node};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::signal::data_point_count;
use sentinel_pipeline::visit;
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
        Payload::Traces(req) => visit::items(req)
            .map(|(_, _, s)| {
                format!(
                    "span {} trace_id={} span_id={} attributes={}",
                    s.name,
                    hex(&s.trace_id),
                    hex(&s.span_id),
                    s.attributes.len()
                )
            })
            .collect(),
        Payload::Metrics(req) => visit::items(req)
            .map(|(_, _, m)| {
                let points = data_point_count(m.data.as_ref());
                format!("metric {} points={points}", m.name)
            })
            .collect(),
        Payload::Logs(req) => visit::items(req)
            .map(|(_, _, l)| {
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
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;
    use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
    use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use sentinel_pipeline::otlp::metrics::v1::{
        metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    /// The log output, captured: the test's subscriber writes here.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        /// The lines written since the last call.
        fn take_lines(&self) -> Vec<String> {
            let bytes = std::mem::take(&mut *self.0.lock().unwrap());
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    fn two_spans() -> Payload {
        Payload::Traces(ExportTraceServiceRequest {
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
        })
    }

    fn one_gauge_of_two_points() -> Payload {
        Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "queue.depth".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint::default(); 2],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    #[tokio::test]
    async fn each_verbosity_logs_what_it_promises() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let export = |verbosity, payload| async move {
            let exporter = DebugExporter {
                id: "debug/test".into(),
                verbosity,
            };
            exporter.export(payload).await.unwrap();
        };

        export(Verbosity::Basic, two_spans()).await;
        let basic = captured.take_lines();
        assert_eq!(basic.len(), 1, "{basic:?}");
        for part in [
            "Received data.",
            "exporter=debug/test",
            "signal=traces",
            "items=2",
        ] {
            assert!(basic[0].contains(part), "{part} missing: {}", basic[0]);
        }

        export(Verbosity::Normal, two_spans()).await;
        let normal = captured.take_lines();
        assert_eq!(normal.len(), 2, "one line per span: {normal:?}");
        assert!(
            normal[0].contains("span a trace_id= span_id=0102 attributes=0"),
            "{}",
            normal[0]
        );
        assert!(
            normal[1].contains("span b trace_id= span_id= attributes=0"),
            "{}",
            normal[1]
        );

        export(Verbosity::Normal, one_gauge_of_two_points()).await;
        let metrics = captured.take_lines();
        assert_eq!(metrics.len(), 1, "one line per metric: {metrics:?}");
        assert!(
            metrics[0].contains("metric queue.depth points=2")
                && metrics[0].contains("signal=metrics"),
            "{}",
            metrics[0]
        );

        export(Verbosity::Detailed, two_spans()).await;
        let detailed = captured.take_lines().join("\n");
        assert!(detailed.contains("items=2"), "{detailed}");
        for field in ["name: \"a\"", "name: \"b\"", "span_id: [\n"] {
            assert!(detailed.contains(field), "{field} missing:\n{detailed}");
        }
    }
}
