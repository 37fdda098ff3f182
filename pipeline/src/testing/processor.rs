//! The processor runner: the processor runs as one stage of a real pipeline task, fed
//! through the pipeline's bounded input and exporting into [`TestSink`]s.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    compliance_id, component_counts, sample, snippet, ComponentCounts, TestSink, PATIENCE,
};
use crate::ack::{ack_pair, AckWaiter, Acks, Refusal};
use crate::component::{BuildContext, Consumer, Fanout, Kind, ProcessorFactory};
use crate::config::Node;
use crate::pipeline_task::{Downstream, PipelineInput, PipelineTask, Stage};
use crate::signal::{Message, Payload, Signal};
use crate::telemetry::SelfMetrics;

/// Checks one processor type against the contract. Build with [`ProcessorCompliance::new`],
/// say what the processor does to the input with the `expect_*` calls, then [`run`].
///
/// [`run`]: ProcessorCompliance::run
pub struct ProcessorCompliance<'a> {
    factory: &'a dyn ProcessorFactory,
    config: Node,
    signal: Signal,
    inputs: Vec<Payload>,
    expected_sent: Option<u64>,
    expected_dropped: u64,
    conserves_items: bool,
    acknowledges_on_hold: bool,
}

/// What the runner saw, for checks of the component's own behaviour.
#[derive(Debug)]
pub struct ProcessorReport {
    pub counts: ComponentCounts,
    /// What reached the downstream sink, in order.
    pub delivered: Vec<Payload>,
}

impl<'a> ProcessorCompliance<'a> {
    /// `config` is the YAML body of the processor's entry. The default input is three
    /// requests of ten distinct items of `signal`.
    pub fn new(factory: &'a dyn ProcessorFactory, config: &str, signal: Signal) -> Self {
        ProcessorCompliance {
            factory,
            config: snippet(config),
            signal,
            inputs: (0..3).map(|seed| sample(signal, 10, seed)).collect(),
            expected_sent: None,
            expected_dropped: 0,
            conserves_items: true,
            acknowledges_on_hold: false,
        }
    }

    /// Replaces the default input with these requests.
    pub fn input(mut self, inputs: Vec<Payload>) -> Self {
        self.inputs = inputs;
        self
    }

    /// How many items the processor must pass on (default: all it did not drop).
    pub fn expect_sent(mut self, items: u64) -> Self {
        self.expected_sent = Some(items);
        self
    }

    /// How many items the processor must drop on purpose (default: none).
    pub fn expect_dropped(mut self, items: u64) -> Self {
        self.expected_dropped = items;
        self
    }

    /// For processors that make or merge items: received = sent + dropped need not hold.
    pub fn items_may_change(mut self) -> Self {
        self.conserves_items = false;
        self
    }

    /// For processors that answer the client once they hold its data (`tail_sampling`,
    /// whose clients must not wait `decision_wait`): under a refusing downstream an
    /// acknowledged item must still have been taken in and handed on, or dropped on
    /// purpose. What the downstream refuses later is counted there, as refused.
    pub fn acknowledges_on_hold(mut self) -> Self {
        self.acknowledges_on_hold = true;
        self
    }

    /// Runs every check; panics with what broke the contract.
    pub async fn run(self) -> ProcessorReport {
        let accepting = self.deliver_and_flush().await;
        self.refused_downstream(&accepting.counts).await;
        accepting
    }

    /// Input accepted downstream; stopping the pipeline flushes what the processor holds.
    async fn deliver_and_flush(&self) -> ProcessorReport {
        let sink = TestSink::new();
        let mut run = self.start(sink.clone());
        let waiters = run.send_all(&self.inputs);
        run.stop_and_drain().await;
        for (index, waiter) in waiters.into_iter().enumerate() {
            let outcome = tokio::time::timeout(PATIENCE, waiter.wait()).await;
            assert!(
                matches!(outcome, Ok(Ok(()))),
                "{}: request {index} was not acknowledged after the pipeline drained: {outcome:?}",
                self.type_name()
            );
        }
        let counts = run.counts();
        self.check_counts(&counts, sink.items() as u64);
        ProcessorReport {
            counts,
            delivered: sink.payloads(),
        }
    }

    /// A full downstream: every request that carried data on is refused (retryable), none
    /// is acknowledged as if it were delivered, and the counts match the accepting run.
    async fn refused_downstream(&self, accepting: &ComponentCounts) {
        let sink = TestSink::full();
        let mut run = self.start(sink.clone());
        let waiters = run.send_all(&self.inputs);
        run.stop_and_drain().await;
        let mut acknowledged_items = 0;
        for (waiter, input) in waiters.into_iter().zip(&self.inputs) {
            match tokio::time::timeout(PATIENCE, waiter.wait()).await {
                Ok(Ok(())) => acknowledged_items += input.item_count() as u64,
                Ok(Err(refusal)) => assert_retryable(self.type_name(), &refusal),
                Err(_) => panic!("{}: a request was never answered", self.type_name()),
            }
        }
        let counts = run.counts();
        assert_eq!(sink.items(), 0, "the full sink took nothing");
        let accounted = if self.acknowledges_on_hold {
            counts.dropped + counts.sent
        } else {
            counts.dropped
        };
        assert!(
            acknowledged_items <= accounted,
            "{}: {acknowledged_items} items were acknowledged although the downstream refused \
             them and the processor accounts for only {accounted}",
            self.type_name(),
        );
        assert_eq!(
            &counts,
            accepting,
            "{}: a refusing downstream must not change what the processor counts",
            self.type_name()
        );
    }

    fn check_counts(&self, counts: &ComponentCounts, delivered: u64) {
        let name = self.type_name();
        let input: u64 = self.inputs.iter().map(|p| p.item_count() as u64).sum();
        assert_eq!(counts.received, input, "{name}: received");
        assert_eq!(
            counts.sent, delivered,
            "{name}: sent must equal what reached the sink"
        );
        assert_eq!(counts.refused, 0, "{name}: refused");
        assert_eq!(counts.failed, 0, "{name}: failed");
        assert_eq!(counts.dropped, self.expected_dropped, "{name}: dropped");
        assert_eq!(counts.queue_size, 0, "{name}: queue size after the flush");
        if let Some(sent) = self.expected_sent {
            assert_eq!(counts.sent, sent, "{name}: sent");
        }
        if self.conserves_items {
            assert_eq!(
                counts.received,
                counts.sent + counts.dropped,
                "{name}: every item received is sent or counted as dropped"
            );
        }
    }

    fn start(&self, sink: Arc<TestSink>) -> PipelineRun {
        let metrics = SelfMetrics::new();
        let id = compliance_id(self.type_name());
        let ctx = BuildContext {
            id: id.clone(),
            metrics: metrics.clone(),
            shutdown: CancellationToken::new(),
            data_dir: super::exporter::scratch_dir("data"),
        };
        let built = self
            .factory
            .build(&self.config, self.signal, ctx)
            .unwrap_or_else(|err| panic!("{}: build failed: {err}", self.type_name()));
        let (sender, receiver) = mpsc::channel(self.inputs.len().max(1));
        let stop = CancellationToken::new();
        let downstream = Arc::new(Downstream::default());
        let task = PipelineTask {
            name: format!("{}/compliance", self.signal),
            input: receiver,
            stages: vec![Stage {
                processor: built.stage,
                metrics: metrics.component(Kind::Processor, &id, self.signal),
            }],
            exporters: Fanout::new(vec![sink as Arc<dyn Consumer>]),
            downstream: downstream.clone(),
            stop: stop.clone(),
        };
        PipelineRun {
            input: PipelineInput {
                name: task.name.clone(),
                sender,
                downstream,
            },
            task: tokio::spawn(task.run()),
            stop,
            metrics,
            id,
            signal: self.signal,
        }
    }

    fn type_name(&self) -> &'static str {
        self.factory.info().type_name
    }
}

struct PipelineRun {
    input: PipelineInput,
    task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
    metrics: Arc<SelfMetrics>,
    id: String,
    signal: Signal,
}

impl PipelineRun {
    fn send_all(&mut self, inputs: &[Payload]) -> Vec<AckWaiter> {
        inputs
            .iter()
            .map(|payload| {
                let (token, waiter) = ack_pair();
                self.input
                    .consume(Message::new(payload.clone(), Acks::one(token)))
                    .expect("the pipeline input has room for every request");
                waiter
            })
            .collect()
    }

    async fn stop_and_drain(&mut self) {
        self.stop.cancel();
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("the pipeline task drains and ends after stop")
            .expect("the pipeline task does not panic");
    }

    fn counts(&self) -> ComponentCounts {
        component_counts(&self.metrics, Kind::Processor, &self.id, self.signal)
    }
}

pub(super) fn assert_retryable(component: &str, refusal: &Refusal) {
    // Both kinds are retryable by contract (RESOURCE_EXHAUSTED / UNAVAILABLE, 429 / 503);
    // the hint makes SDKs come back.
    assert!(
        refusal.retry_after.is_some(),
        "{component}: a refusal must tell the client when to retry: {refusal:?}"
    );
}
