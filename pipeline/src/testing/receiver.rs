//! The receiver runner: the receiver is built and started as the runtime does it, with
//! [`TestSink`]s as the pipelines it feeds; a driver plays its client.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{
    compliance_id, component_counts, sinks_for, snippet, ComponentCounts, TestSink, PATIENCE,
};
use crate::component::{BuildContext, Kind, ReceiverFactory};
use crate::config::Node;
use crate::signal::Signal;
use crate::telemetry::SelfMetrics;

/// What the receiver's client saw for one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOutcome {
    /// Answered "accepted" for this many items.
    Accepted(u64),
    /// Refused with a retryable status (RESOURCE_EXHAUSTED, 429 or 503); `retry_hint` says
    /// whether it told the client when to retry (`Retry-After`, `RetryInfo`).
    Refused { retry_hint: bool },
    /// The receiver has no client: it takes data in on its own schedule (scrapers).
    Scraped,
}

/// Plays the receiver's client: sends one request to the endpoint written in the config.
#[async_trait]
pub trait ReceiverDriver: Send {
    async fn push(&mut self) -> ClientOutcome;
}

/// A driver for receivers that take data in by themselves (scrapers).
pub struct Scrapes;

#[async_trait]
impl ReceiverDriver for Scrapes {
    async fn push(&mut self) -> ClientOutcome {
        ClientOutcome::Scraped
    }
}

/// Checks one receiver type against the contract.
pub struct ReceiverCompliance<'a> {
    factory: &'a dyn ReceiverFactory,
    config: Node,
    signals: Vec<Signal>,
    expected_dropped: u64,
}

#[derive(Debug)]
pub struct ReceiverReport {
    /// Counts per signal of the accepting run.
    pub counts: BTreeMap<Signal, ComponentCounts>,
    pub delivered: u64,
}

impl<'a> ReceiverCompliance<'a> {
    /// Wires every signal the factory lists; write the config so that the receiver takes
    /// data in at once (scrapers: `initial_delay: 0s` and a long `collection_interval`).
    pub fn new(factory: &'a dyn ReceiverFactory, config: &str) -> Self {
        ReceiverCompliance {
            factory,
            config: snippet(config),
            signals: factory.info().signals.to_vec(),
            expected_dropped: 0,
        }
    }

    /// Items the receiver must drop on purpose per push (default: none).
    pub fn expect_dropped(mut self, items: u64) -> Self {
        self.expected_dropped = items;
        self
    }

    pub async fn run(self, driver: &mut dyn ReceiverDriver) -> ReceiverReport {
        let report = self.deliver_and_stop(driver).await;
        self.refused_downstream(driver).await;
        report
    }

    /// Accepting pipelines: what the client is told was accepted is in the sinks, and the
    /// receiver stops when shutdown is cancelled.
    async fn deliver_and_stop(&self, driver: &mut dyn ReceiverDriver) -> ReceiverReport {
        let name = self.type_name();
        let mut run = self.start(false).await;
        let outcome = driver.push().await;
        let at_least = match outcome {
            ClientOutcome::Accepted(items) => items as usize,
            ClientOutcome::Scraped => 1,
            ClientOutcome::Refused { .. } => {
                panic!("{name}: refused a request although its pipelines accept")
            }
        };
        assert!(
            run.wait_for_items(at_least).await,
            "{name}: nothing reached the pipelines in time ({outcome:?})"
        );
        run.stop(name).await;
        let delivered = run.delivered_items();
        if let ClientOutcome::Accepted(items) = outcome {
            assert_eq!(
                delivered, items,
                "{name}: the pipelines got what was acknowledged"
            );
        }
        let counts = run.counts();
        let total = sum(counts.values());
        assert_eq!(
            total.sent, delivered,
            "{name}: sent = items the pipelines took"
        );
        assert_eq!(total.refused, 0, "{name}: refused");
        assert_eq!(total.failed, 0, "{name}: failed");
        assert_eq!(total.queue_size, 0, "{name}: queue size after stop");
        assert_eq!(total.dropped, self.expected_dropped, "{name}: dropped");
        assert_eq!(
            total.received,
            total.sent + total.dropped,
            "{name}: received = sent + dropped"
        );
        ReceiverReport { counts, delivered }
    }

    /// Full pipelines: the client is refused with a retryable status, and the receiver
    /// counts the items as refused.
    async fn refused_downstream(&self, driver: &mut dyn ReceiverDriver) {
        let name = self.type_name();
        let mut run = self.start(true).await;
        match driver.push().await {
            ClientOutcome::Refused { retry_hint } => {
                assert!(retry_hint, "{name}: a refusal must say when to retry")
            }
            ClientOutcome::Accepted(items) => {
                panic!("{name}: {items} items acknowledged although every pipeline refused")
            }
            ClientOutcome::Scraped => {}
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while sum(run.counts().values()).refused == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: counted no refusal"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        run.stop(name).await;
        let total = sum(run.counts().values());
        assert_eq!(
            run.delivered_items(),
            0,
            "{name}: full pipelines took nothing"
        );
        assert_eq!(total.sent, 0, "{name}: sent");
        assert_eq!(total.failed, 0, "{name}: failed");
        assert_eq!(
            total.received,
            total.refused + total.dropped,
            "{name}: every item received is refused or dropped"
        );
    }

    async fn start(&self, refusing: bool) -> ReceiverRun {
        let name = self.type_name();
        let metrics = SelfMetrics::new();
        let id = compliance_id(name);
        let shutdown = CancellationToken::new();
        let ctx = BuildContext {
            id: id.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            data_dir: super::exporter::scratch_dir("data"),
        };
        let (sinks, outputs) = sinks_for(&self.signals, refusing);
        let receiver = self
            .factory
            .build(&self.config, ctx)
            .unwrap_or_else(|err| panic!("{name}: build failed: {err}"));
        let running = receiver
            .start(outputs)
            .await
            .unwrap_or_else(|err| panic!("{name}: start failed: {err}"));
        ReceiverRun {
            task: running.task,
            shutdown,
            sinks,
            metrics,
            id,
        }
    }

    fn type_name(&self) -> &'static str {
        self.factory.info().type_name
    }
}

struct ReceiverRun {
    task: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
    sinks: BTreeMap<Signal, Arc<TestSink>>,
    metrics: Arc<SelfMetrics>,
    id: String,
}

impl ReceiverRun {
    async fn wait_for_items(&self, items: usize) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while (self.delivered_items() as usize) < items {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    async fn stop(&mut self, name: &str) {
        self.shutdown.cancel();
        match tokio::time::timeout(PATIENCE, &mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("{name}: the receiver task failed: {err}"),
            Err(_) => panic!("{name}: the receiver did not stop within {PATIENCE:?} of shutdown"),
        }
    }

    fn delivered_items(&self) -> u64 {
        self.sinks.values().map(|s| s.items() as u64).sum()
    }

    fn counts(&self) -> BTreeMap<Signal, ComponentCounts> {
        self.sinks
            .keys()
            .map(|signal| {
                let counts = component_counts(&self.metrics, Kind::Receiver, &self.id, *signal);
                (*signal, counts)
            })
            .collect()
    }
}

fn sum<'a>(counts: impl Iterator<Item = &'a ComponentCounts>) -> ComponentCounts {
    counts.fold(ComponentCounts::default(), |total, c| ComponentCounts {
        received: total.received + c.received,
        sent: total.sent + c.sent,
        refused: total.refused + c.refused,
        dropped: total.dropped + c.dropped,
        failed: total.failed + c.failed,
        queue_size: total.queue_size + c.queue_size,
    })
}
