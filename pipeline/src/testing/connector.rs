//! The connector runner: the connector consumes from an upstream pipeline's fan-out and
//! emits into [`TestSink`]s standing for the downstream pipelines of each signal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::processor::assert_retryable;
use super::{
    compliance_id, component_counts, sample, sinks_for, snippet, ComponentCounts, TestSink,
    PATIENCE,
};
use crate::ack::{ack_pair, Acks};
use crate::component::{BuildContext, Connector, ConnectorFactory, Kind, Outputs};
use crate::config::Node;
use crate::signal::{Message, Payload, Signal};
use crate::telemetry::SelfMetrics;

/// Checks one connector type against the contract for one input signal.
pub struct ConnectorCompliance<'a> {
    factory: &'a dyn ConnectorFactory,
    config: Node,
    input_signal: Signal,
    inputs: Vec<Payload>,
    expected_sent: Option<u64>,
    expected_dropped: u64,
    settle: Duration,
}

#[derive(Debug)]
pub struct ConnectorReport {
    pub counts: ComponentCounts,
    /// What each downstream signal received.
    pub delivered: BTreeMap<Signal, Vec<Payload>>,
}

impl<'a> ConnectorCompliance<'a> {
    /// The default input is three requests of ten distinct items of `input_signal`.
    pub fn new(factory: &'a dyn ConnectorFactory, config: &str, input_signal: Signal) -> Self {
        ConnectorCompliance {
            factory,
            config: snippet(config),
            input_signal,
            inputs: (0..3).map(|seed| sample(input_signal, 10, seed)).collect(),
            expected_sent: None,
            expected_dropped: 0,
            settle: Duration::ZERO,
        }
    }

    pub fn input(mut self, inputs: Vec<Payload>) -> Self {
        self.inputs = inputs;
        self
    }

    /// Items the connector must emit downstream (default: whatever it emitted, which must
    /// then equal what the sinks received).
    pub fn expect_sent(mut self, items: u64) -> Self {
        self.expected_sent = Some(items);
        self
    }

    pub fn expect_dropped(mut self, items: u64) -> Self {
        self.expected_dropped = items;
        self
    }

    /// For connectors that emit from a background task after shutdown starts: how long to
    /// wait for that flush.
    pub fn settle_after_shutdown(mut self, wait: Duration) -> Self {
        self.settle = wait;
        self
    }

    pub async fn run(self) -> ConnectorReport {
        let accepting = self.deliver_and_flush().await;
        self.refused_downstream(accepting.counts.sent).await;
        accepting
    }

    async fn deliver_and_flush(&self) -> ConnectorReport {
        let run = self.start(false);
        for (index, input) in self.inputs.iter().enumerate() {
            let (token, waiter) = ack_pair();
            let result = run
                .connector
                .consume(Message::new(input.clone(), Acks::one(token)), &run.outputs);
            assert!(
                result.is_ok(),
                "{}: request {index} refused by an accepting downstream: {result:?}",
                self.type_name()
            );
            let outcome = tokio::time::timeout(PATIENCE, waiter.wait()).await;
            assert!(
                matches!(outcome, Ok(Ok(()))),
                "{}: request {index} was not acknowledged: {outcome:?}",
                self.type_name()
            );
        }
        run.shut_down(self.settle).await;
        let counts = run.counts(self.input_signal);
        let delivered_items: usize = run.sinks.values().map(|s| s.items()).sum();
        let name = self.type_name();
        let input: u64 = self.inputs.iter().map(|p| p.item_count() as u64).sum();
        assert_eq!(counts.received, input, "{name}: received");
        assert_eq!(
            counts.sent, delivered_items as u64,
            "{name}: sent = items emitted"
        );
        assert_eq!(counts.refused, 0, "{name}: refused");
        assert_eq!(counts.failed, 0, "{name}: failed");
        assert_eq!(counts.dropped, self.expected_dropped, "{name}: dropped");
        assert_eq!(counts.queue_size, 0, "{name}: queue size after shutdown");
        if let Some(sent) = self.expected_sent {
            assert_eq!(counts.sent, sent, "{name}: sent");
        }
        ConnectorReport {
            counts,
            delivered: run
                .sinks
                .iter()
                .map(|(signal, sink)| (*signal, sink.payloads()))
                .collect(),
        }
    }

    /// Full downstream pipelines: a request whose derived data cannot be handed on is
    /// refused, retryably, and counted as refused; nothing reaches the sinks.
    async fn refused_downstream(&self, sent_when_accepting: u64) {
        let run = self.start(true);
        let name = self.type_name();
        let mut refused_items = 0;
        for input in &self.inputs {
            let (token, waiter) = ack_pair();
            let result = run
                .connector
                .consume(Message::new(input.clone(), Acks::one(token)), &run.outputs);
            let outcome = tokio::time::timeout(PATIENCE, waiter.wait())
                .await
                .unwrap_or_else(|_| panic!("{name}: a request was never answered"));
            match (&result, &outcome) {
                (Err(refusal), _) => {
                    assert_retryable(name, refusal);
                    refused_items += input.item_count() as u64;
                }
                (Ok(()), Err(refusal)) => panic!(
                    "{name}: the request's acknowledgement was refused ({refusal}) but consume \
                     returned Ok, so the upstream cannot tell its client"
                ),
                (Ok(()), Ok(())) => {}
            }
        }
        run.shut_down(self.settle).await;
        let counts = run.counts(self.input_signal);
        let delivered: usize = run.sinks.values().map(|s| s.items()).sum();
        assert_eq!(delivered, 0, "{name}: full sinks took nothing");
        assert_eq!(counts.refused, refused_items, "{name}: refused");
        assert_eq!(counts.sent, 0, "{name}: nothing was handed on");
        assert!(
            refused_items > 0 || sent_when_accepting == 0,
            "{name}: the input produced output in the accepting run, so a full downstream \
             must refuse some of it"
        );
    }

    fn start(&self, refusing: bool) -> ConnectorRun {
        let metrics = SelfMetrics::new();
        let id = compliance_id(self.type_name());
        let shutdown = CancellationToken::new();
        let ctx = BuildContext {
            id: id.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            data_dir: super::exporter::scratch_dir("data"),
        };
        let connector = self
            .factory
            .build(&self.config, ctx)
            .unwrap_or_else(|err| panic!("{}: build failed: {err}", self.type_name()));
        let (sinks, outputs) = sinks_for(self.factory.output_signals(), refusing);
        ConnectorRun {
            connector,
            outputs,
            sinks,
            shutdown,
            metrics,
            id,
        }
    }

    fn type_name(&self) -> &'static str {
        self.factory.info().type_name
    }
}

struct ConnectorRun {
    connector: Arc<dyn Connector>,
    outputs: Outputs,
    sinks: BTreeMap<Signal, Arc<TestSink>>,
    shutdown: CancellationToken,
    metrics: Arc<SelfMetrics>,
    id: String,
}

impl ConnectorRun {
    async fn shut_down(&self, settle: Duration) {
        self.shutdown.cancel();
        tokio::time::sleep(settle).await;
    }

    fn counts(&self, signal: Signal) -> ComponentCounts {
        component_counts(&self.metrics, Kind::Connector, &self.id, signal)
    }
}
