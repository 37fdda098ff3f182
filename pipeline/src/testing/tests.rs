//! The runners pass a component that keeps the contract and fail ones that break it.

use std::sync::Arc;

use super::{ConnectorCompliance, ProcessorCompliance};
use crate::component::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Connector, ConnectorFactory, Factory,
    Kind, Processor, ProcessorFactory,
};
use crate::config::{Diagnostic, Node};
use crate::signal::{Message, Signal};
use crate::{ComponentMetrics, Consumer, Outputs, Refusal};

/// `drop_every`: 0 passes everything on; n drops every n-th message, counted unless
/// `silent`.
#[derive(Clone, Copy)]
struct Passing {
    drop_every: usize,
    silent: bool,
}

struct PassingStage {
    config: Passing,
    seen: usize,
    metrics: ComponentMetrics,
}

impl Processor for PassingStage {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) {
        self.seen += 1;
        if self.seen.checked_rem(self.config.drop_every) == Some(0) {
            if !self.config.silent {
                self.metrics.dropped(msg.payload.item_count(), "test");
            }
            return;
        }
        out.push(msg);
    }
}

impl Factory for Passing {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "passing",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description: "test",
        }
    }

    fn check(&self, _node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        Ok(serde_json::Value::Null)
    }
}

impl ProcessorFactory for Passing {
    fn build(
        &self,
        _node: &Node,
        signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        Ok(BuiltProcessor {
            stage: Box::new(PassingStage {
                config: *self,
                seen: 0,
                metrics: ctx.component_metrics(Kind::Processor, signal),
            }),
            admission_budget: None,
        })
    }
}

#[tokio::test]
async fn a_processor_that_counts_its_drops_passes() {
    let passing = Passing {
        drop_every: 2,
        silent: false,
    };
    let report = ProcessorCompliance::new(&passing, "", Signal::Logs)
        .expect_dropped(10)
        .run()
        .await;
    assert_eq!(report.counts.sent, 20);
}

#[tokio::test]
#[should_panic(expected = "dropped")]
async fn a_processor_that_drops_silently_fails() {
    let silent = Passing {
        drop_every: 2,
        silent: true,
    };
    ProcessorCompliance::new(&silent, "", Signal::Logs)
        .run()
        .await;
}

/// A connector that forgets to return the refusal of its downstream.
struct Swallowing;

impl Factory for Swallowing {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "swallowing",
            kind: Kind::Connector,
            signals: &Signal::ALL,
            description: "test",
        }
    }

    fn check(&self, _node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        Ok(serde_json::Value::Null)
    }
}

impl ConnectorFactory for Swallowing {
    fn input_signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn output_signals(&self) -> &'static [Signal] {
        &[Signal::Logs]
    }

    fn build(&self, _node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        Ok(Arc::new(SwallowingConnector {
            metrics: ctx.component_metrics(Kind::Connector, Signal::Logs),
        }))
    }
}

struct SwallowingConnector {
    metrics: ComponentMetrics,
}

impl Connector for SwallowingConnector {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let items = msg.payload.item_count();
        self.metrics.received(items);
        if outputs[&Signal::Logs].fanout.consume(msg).is_ok() {
            self.metrics.sent(items);
        }
        Ok(())
    }
}

#[tokio::test]
#[should_panic(expected = "full downstream must refuse")]
async fn a_connector_that_swallows_refusals_fails() {
    ConnectorCompliance::new(&Swallowing, "", Signal::Logs)
        .run()
        .await;
}
