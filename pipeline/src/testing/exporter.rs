//! The exporter runner: the real exporter behind its real sending queue, with a gate in
//! between that the runner holds shut to fill the queue and opens to let it drain.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::processor::assert_retryable;
use super::{compliance_id, component_counts, sample, snippet, ComponentCounts, PATIENCE};
use crate::ack::{ack_pair, AckWaiter, Acks, Refusal};
use crate::component::{
    BuildContext, BuildError, BuiltExporter, Consumer, ExportError, Exporter, ExporterFactory,
    Fanout, Kind, Output, RecordBatch,
};
use crate::config::Node;
use crate::sending::QueueKind;
use crate::signal::{Encoded, EncodedMessage, Message, Payload, Signal};
use crate::telemetry::SelfMetrics;

/// A future the runner awaits.
pub type Pending = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A started sending queue, as the exporters crate makes it (`sending::start_queue`).
pub struct QueueUnderTest {
    pub consumer: Arc<dyn Consumer>,
    /// Stops accepting, delivers what it can before the deadline, shuts the exporter down.
    pub drain: Box<dyn FnOnce(Instant) -> Pending + Send>,
}

/// Starts the sending queue around a built exporter: `(id, metrics, data_dir, built,
/// signals)`. The exporters crate passes its own; the runner cannot depend on it.
pub type StartQueue = fn(
    &str,
    Arc<SelfMetrics>,
    &Path,
    BuiltExporter,
    &[Signal],
) -> Result<QueueUnderTest, BuildError>;

/// Counts the items that reached the exporter's real sink (lines in a file, rows in a
/// table, requests at a test server), so the runner can check nothing acknowledged is lost.
pub type DeliveredItems = Box<dyn Fn() -> Pin<Box<dyn Future<Output = u64> + Send>> + Send + Sync>;

/// Makes the payload of one request: `(signal, items, seed)`, as [`sample`] does.
pub type MakeSample = fn(Signal, usize, u64) -> Payload;

/// Checks one exporter type against the contract.
pub struct ExporterCompliance<'a> {
    factory: &'a dyn ExporterFactory,
    config: Node,
    signal: Signal,
    start_queue: StartQueue,
    delivered: Option<DeliveredItems>,
    make_sample: MakeSample,
}

/// Requests of this many items are sent until the queue refuses.
const ITEMS_PER_REQUEST: usize = 5;
const MAX_REQUESTS: u64 = 64;

impl<'a> ExporterCompliance<'a> {
    pub fn new(
        factory: &'a dyn ExporterFactory,
        config: &str,
        signal: Signal,
        start_queue: StartQueue,
    ) -> Self {
        ExporterCompliance {
            factory,
            config: snippet(config),
            signal,
            start_queue,
            delivered: None,
            make_sample: sample,
        }
    }

    /// How to count what reached the real sink. Without it the runner checks the queue's
    /// and the exporter's accounting only (for sinks with nothing to read back).
    pub fn delivered_items(mut self, count: DeliveredItems) -> Self {
        self.delivered = Some(count);
        self
    }

    /// How each request's items are made instead of [`sample`], for a sink that folds
    /// items [`sample`] makes alike (Prometheus keeps one value per series, and `sample`
    /// repeats its series in every request). Each item must still be one item to count.
    pub fn samples(mut self, make: MakeSample) -> Self {
        self.make_sample = make;
        self
    }

    /// Fills the queue while the sink is held, checks the refusals, then opens the sink and
    /// shuts down: everything acknowledged must be delivered by the drain.
    pub async fn run(self) -> ComponentCounts {
        let name = self.factory.info().type_name;
        let data_dir = scratch_dir(name);
        let metrics = SelfMetrics::new();
        let id = compliance_id(name);
        let (gate, open) = watch::channel(false);
        let queue = self.start(&id, &metrics, &data_dir, open);
        let output = Output {
            fanout: Fanout::new(vec![queue.consumer.clone()]),
            budgets: Vec::new(),
        };

        let (accepted, refused, waiters) =
            fill_until_refused(&output, self.signal, self.make_sample, name).await;
        let held = component_counts(&metrics, Kind::Exporter, &id, self.signal);
        assert_eq!(
            held.received, accepted,
            "{name}: received = items the queue took"
        );
        assert_eq!(
            held.refused, refused,
            "{name}: refused = items the full queue refused"
        );
        assert_eq!(
            held.sent, 0,
            "{name}: nothing is sent while the sink is held"
        );
        assert!(
            held.queue_size > 0,
            "{name}: the queue reports what waits in it"
        );

        gate.send_replace(true);
        (queue.drain)(Instant::now() + PATIENCE).await;
        for waiter in waiters {
            waiter.await;
        }
        let drained = component_counts(&metrics, Kind::Exporter, &id, self.signal);
        let _ = std::fs::remove_dir_all(&data_dir);
        self.check_drained(&drained, accepted, refused).await;
        drained
    }

    async fn check_drained(&self, counts: &ComponentCounts, accepted: u64, refused: u64) {
        let name = self.factory.info().type_name;
        let expected = ComponentCounts {
            received: accepted,
            sent: accepted,
            refused,
            dropped: 0,
            failed: 0,
            queue_size: 0,
        };
        assert_eq!(
            counts, &expected,
            "{name}: after the drain every acknowledged item is sent and nothing waits"
        );
        if let Some(delivered) = &self.delivered {
            assert_eq!(
                delivered().await,
                accepted,
                "{name}: the sink holds exactly the acknowledged items"
            );
        }
    }

    fn start(
        &self,
        id: &str,
        metrics: &Arc<SelfMetrics>,
        data_dir: &Path,
        open: watch::Receiver<bool>,
    ) -> QueueUnderTest {
        let name = self.factory.info().type_name;
        let ctx = BuildContext {
            id: id.to_string(),
            metrics: metrics.clone(),
            shutdown: CancellationToken::new(),
            data_dir: data_dir.to_path_buf(),
        };
        let mut built = self
            .factory
            .build(&self.config, ctx)
            .unwrap_or_else(|err| panic!("{name}: build failed: {err}"));
        // A small memory queue with one consumer fills after a handful of requests.
        built.queue.kind = QueueKind::Memory;
        built.queue.queue_size = 2;
        built.queue.num_consumers = 1;
        built.exporter = Arc::new(GatedExporter {
            inner: built.exporter,
            open,
        });
        (self.start_queue)(id, metrics.clone(), data_dir, built, &[self.signal])
            .unwrap_or_else(|err| panic!("{name}: the sending queue did not start: {err}"))
    }
}

/// Sends requests until the queue refuses one. Returns the items accepted and refused, and
/// futures checking that each accepted request's acknowledgement resolves "accepted".
async fn fill_until_refused(
    output: &Output,
    signal: Signal,
    make_sample: MakeSample,
    name: &str,
) -> (u64, u64, Vec<Pending>) {
    let (mut accepted, mut refused) = (0, 0);
    let mut waiters = Vec::new();
    for seed in 0..MAX_REQUESTS {
        let payload = make_sample(signal, ITEMS_PER_REQUEST, seed);
        assert_eq!(
            payload.item_count(),
            ITEMS_PER_REQUEST,
            "{name}: a sample request has {ITEMS_PER_REQUEST} items"
        );
        let (token, waiter) = ack_pair();
        match send(output, payload, Acks::one(token), seed % 2 == 1) {
            Ok(()) => {
                accepted += ITEMS_PER_REQUEST as u64;
                waiters.push(expect_accepted(waiter, name.to_string()));
            }
            Err(refusal) => {
                assert_retryable(name, &refusal);
                let outcome = waiter.wait().await;
                assert!(
                    outcome.is_err(),
                    "{name}: a refused request was acknowledged"
                );
                refused += ITEMS_PER_REQUEST as u64;
                break;
            }
        }
        // Lets the queue's consumer take the first request and block on the held sink.
        tokio::task::yield_now().await;
    }
    assert!(
        refused > 0,
        "{name}: a queue of 2 behind a held sink never refused"
    );
    (accepted, refused, waiters)
}

/// Sends `payload` decoded, or `encoded` as a receiver forwards protobuf it did not decode:
/// exporters that send protobuf keep it encoded ([`Exporter::takes_encoded`]), the others'
/// queues decode it.
fn send(output: &Output, payload: Payload, acks: Acks, encoded: bool) -> Result<(), Refusal> {
    if !encoded {
        return output.send(Message::new(payload, acks));
    }
    let request = Encoded::new(
        payload.signal(),
        payload.encode_to_vec().into(),
        payload.item_count(),
    );
    output.send_encoded(EncodedMessage { request, acks })
}

fn expect_accepted(waiter: AckWaiter, name: String) -> Pending {
    Box::pin(async move {
        let outcome = tokio::time::timeout(PATIENCE, waiter.wait()).await;
        assert!(
            matches!(outcome, Ok(Ok(()))),
            "{name}: an accepted request's acknowledgement did not resolve: {outcome:?}"
        );
    })
}

/// A fresh directory under the system temp dir, for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "sentinel-compliance-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory for the queue");
    dir
}

/// Holds every export until the runner opens the gate.
struct GatedExporter {
    inner: Arc<dyn Exporter>,
    open: watch::Receiver<bool>,
}

impl GatedExporter {
    async fn wait_open(&self) {
        let mut open = self.open.clone();
        let _ = open.wait_for(|open| *open).await;
    }
}

#[async_trait]
impl Exporter for GatedExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        self.wait_open().await;
        self.inner.export(payload).await
    }

    async fn export_records(&self, batch: RecordBatch) -> Result<(), ExportError> {
        self.wait_open().await;
        self.inner.export_records(batch).await
    }

    async fn export_shared(&self, batch: crate::SharedBatch) -> Result<(), ExportError> {
        self.wait_open().await;
        self.inner.export_shared(batch).await
    }

    fn takes_encoded(&self) -> bool {
        self.inner.takes_encoded()
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await
    }
}
