//! The consuming loop: read a record, hand it to its signal's pipelines with an
//! acknowledgement token, track it until the token resolves, and commit the contiguous
//! acknowledged prefix of each partition every `commit_interval`. A refusal pauses
//! consuming and the same record is offered again after a backoff: nothing is skipped.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use sentinel_exporters::kafka::client::Encoding;
use sentinel_pipeline::telemetry::ComponentLabels;
use sentinel_pipeline::{
    ack_pair, Acks, BuildContext, ComponentMetrics, Kind, Message, Output, Refusal, Signal,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::KafkaReceiverConfig;
use super::offsets::{OffsetTracker, Partition};
use super::replays::Replays;

/// Backoff while the pipelines refuse: doubles from the first to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const LAST_BACKOFF: Duration = Duration::from_secs(2);
/// How often the replay marks are written (small file; see `replays.rs`).
const REPLAY_MARKS_INTERVAL: Duration = Duration::from_millis(250);
/// How long shutdown waits for the acknowledgement of records already handed on.
const DRAIN_WAIT: Duration = Duration::from_secs(10);

/// Where one topic's records go.
pub struct Route {
    pub signal: Signal,
    pub encoding: Encoding,
    pub output: Output,
    pub metrics: ComponentMetrics,
}

/// Tells the loop which partitions a rebalance took away (librdkafka calls it from
/// inside `recv`).
#[derive(Default, Clone)]
pub struct Context {
    revoked: Arc<Mutex<Vec<Partition>>>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            if let Ok(mut revoked) = self.revoked.lock() {
                revoked.extend(
                    list.elements()
                        .iter()
                        .map(|e| (e.topic().to_string(), e.partition())),
                );
            }
        }
    }
}

/// A record read from Kafka, kept until its data is acknowledged so that a late refusal
/// can offer it again.
struct Pending {
    partition: Partition,
    offset: i64,
    epoch: u64,
    value: Arc<[u8]>,
}

struct Outcome {
    pending: Pending,
    items: usize,
    result: Result<(), Refusal>,
}

pub struct Loop {
    consumer: StreamConsumer<Context>,
    context: Context,
    routes: HashMap<String, Route>,
    tracker: OffsetTracker,
    replays: Replays,
    replayed: Counter<u64, AtomicU64>,
    undecodable: Counter<u64, AtomicU64>,
    retry: VecDeque<Pending>,
    outcomes_tx: mpsc::UnboundedSender<Outcome>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    /// Records handed on whose acknowledgement has not come back yet.
    awaiting: usize,
    backoff: Duration,
    max_in_flight: usize,
    commit_interval: Duration,
    id: String,
}

fn labels(ctx: &BuildContext) -> ComponentLabels {
    ComponentLabels {
        component_kind: Kind::Receiver.as_str().to_string(),
        component_id: ctx.id.clone(),
        signal: String::new(),
    }
}

impl Loop {
    pub fn new(
        consumer: StreamConsumer<Context>,
        routes: HashMap<String, Route>,
        config: &KafkaReceiverConfig,
        ctx: &BuildContext,
        state_dir: PathBuf,
    ) -> Loop {
        let context = consumer.context().as_ref().clone();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let replayed: Family<ComponentLabels, Counter<u64, AtomicU64>> = ctx.metrics.family(
            "kafka_receiver_replayed_records",
            "Kafka records read again that an earlier run or assignment had already handed to the pipelines: possible duplicates (a lower bound; the dedup processor removes them)",
            Family::default,
        );
        let undecodable: Family<ComponentLabels, Counter<u64, AtomicU64>> = ctx.metrics.family(
            "kafka_receiver_undecodable_records",
            "Kafka records skipped because their value is not an OTLP request in the topic's encoding",
            Family::default,
        );
        let replayed = replayed.get_or_create(&labels(ctx)).clone();
        let undecodable = undecodable.get_or_create(&labels(ctx)).clone();
        Loop {
            consumer,
            context,
            routes,
            tracker: OffsetTracker::default(),
            replays: Replays::load(state_dir),
            replayed,
            undecodable,
            retry: VecDeque::new(),
            outcomes_tx,
            outcomes,
            awaiting: 0,
            backoff: FIRST_BACKOFF,
            max_in_flight: config.max_in_flight,
            commit_interval: config.commit_interval,
            id: ctx.id.clone(),
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut commit_tick = tokio::time::interval(self.commit_interval);
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut marks_tick = tokio::time::interval(REPLAY_MARKS_INTERVAL);
        marks_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.forget_revoked();
            if let Some(pending) = self.retry.pop_front() {
                if !self.offer(pending) {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(self.backoff) => {}
                    }
                    self.backoff = (self.backoff * 2).min(LAST_BACKOFF);
                } else {
                    self.backoff = FIRST_BACKOFF;
                }
                continue;
            }
            let full = self.tracker.in_flight() >= self.max_in_flight;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(outcome) = self.outcomes.recv() => self.settle(outcome),
                _ = commit_tick.tick() => self.commit(CommitMode::Async),
                _ = marks_tick.tick() => self.save_marks(),
                received = self.consumer.recv(), if !full => match received {
                    Ok(message) => {
                        let partition = (message.topic().to_string(), message.partition());
                        let offset = message.offset();
                        let value: Arc<[u8]> = Arc::from(message.payload().unwrap_or_default());
                        drop(message);
                        self.forget_revoked();
                        self.arrive(partition, offset, value);
                    }
                    Err(error) => {
                        tracing::warn!(receiver = %self.id, %error, "Kafka consumer error; retrying.");
                        tokio::time::sleep(self.backoff).await;
                    }
                },
            }
        }
        self.drain().await;
    }

    /// A record read for the first time.
    fn arrive(&mut self, partition: Partition, offset: i64, value: Arc<[u8]>) {
        if self.replays.arrives(&partition, offset) {
            self.replayed.inc();
        }
        let pending = Pending {
            partition,
            offset,
            epoch: 0,
            value,
        };
        if !self.offer(pending) {
            self.backoff = FIRST_BACKOFF;
        }
    }

    /// Hands a record to its pipelines. False if refused: it then heads the retry queue.
    fn offer(&mut self, mut pending: Pending) -> bool {
        let Some(route) = self.routes.get(&pending.partition.0) else {
            self.skip(&pending);
            return true;
        };
        let payload = match route.encoding.decode(route.signal, &pending.value) {
            Ok(payload) => payload,
            Err(error) => {
                self.undecodable.inc();
                tracing::warn!(receiver = %self.id, topic = %pending.partition.0, partition = pending.partition.1, offset = pending.offset, %error, "Skipping a Kafka record that cannot be decoded.");
                self.skip(&pending);
                return true;
            }
        };
        let items = payload.item_count();
        route.metrics.received(items);
        let (token, waiter) = ack_pair();
        if let Err(refusal) = route.output.send(Message::new(payload, Acks::one(token))) {
            route.metrics.refused(items);
            tracing::debug!(receiver = %self.id, %refusal, "Pipelines refused a Kafka record; pausing.");
            self.retry.push_front(pending);
            return false;
        }
        pending.epoch = self.tracker.handed_on(&pending.partition, pending.offset);
        let outcomes = self.outcomes_tx.clone();
        self.awaiting += 1;
        tokio::spawn(async move {
            let result = waiter.wait().await;
            let _ = outcomes.send(Outcome {
                pending,
                items,
                result,
            });
        });
        true
    }

    /// A record with nothing to deliver is done at once (it is still committed past).
    fn skip(&mut self, pending: &Pending) {
        let epoch = self.tracker.handed_on(&pending.partition, pending.offset);
        self.tracker
            .acknowledged(&pending.partition, epoch, pending.offset);
    }

    fn settle(&mut self, outcome: Outcome) {
        self.awaiting = self.awaiting.saturating_sub(1);
        let Outcome {
            pending,
            items,
            result,
        } = outcome;
        let Some(route) = self.routes.get(&pending.partition.0) else {
            return;
        };
        match result {
            Ok(()) => {
                route.metrics.sent(items);
                self.tracker
                    .acknowledged(&pending.partition, pending.epoch, pending.offset);
            }
            Err(refusal) => {
                route.metrics.refused(items);
                tracing::debug!(receiver = %self.id, %refusal, "A queue refused a Kafka record after hand-off; offering it again.");
                // Only records of a current assignment; a revoked partition's new owner
                // replays it from the committed offset.
                if self.tracker.is_current(&pending.partition, pending.epoch) {
                    self.retry.push_back(pending);
                }
            }
        }
    }

    fn forget_revoked(&mut self) {
        let revoked: Vec<Partition> = match self.context.revoked.lock() {
            Ok(mut revoked) => revoked.drain(..).collect(),
            Err(_) => return,
        };
        if revoked.is_empty() {
            return;
        }
        self.tracker.revoke(&revoked);
        self.retry.retain(|p| !revoked.contains(&p.partition));
    }

    fn commit(&mut self, mode: CommitMode) {
        self.forget_revoked();
        let commits = self.tracker.take_commits();
        if commits.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &commits {
            let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
        }
        if let Err(error) = self.consumer.commit(&list, mode) {
            tracing::warn!(receiver = %self.id, %error, "Kafka offset commit failed; the records will be read again after a restart.");
        }
    }

    fn save_marks(&mut self) {
        if let Err(error) = self.replays.save() {
            tracing::debug!(receiver = %self.id, %error, "Cannot write the Kafka receiver's replay marks.");
        }
    }

    /// At shutdown: wait (bounded) for what was handed on, then commit it synchronously.
    async fn drain(mut self) {
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        while self.awaiting > 0 {
            match tokio::time::timeout_at(deadline, self.outcomes.recv()).await {
                Ok(Some(outcome)) => {
                    if outcome.result.is_err() {
                        self.awaiting -= 1;
                        // Not offered again while stopping: it stays uncommitted.
                        if let Some(route) = self.routes.get(&outcome.pending.partition.0) {
                            route.metrics.refused(outcome.items);
                        }
                        continue;
                    }
                    self.settle(outcome)
                }
                _ => break,
            }
        }
        // Refused records waiting for a retry stay uncommitted and are replayed.
        for pending in self.retry.drain(..) {
            tracing::debug!(offset = pending.offset, "Left uncommitted at shutdown.");
        }
        tokio::task::block_in_place(|| self.commit(CommitMode::Sync));
        self.save_marks();
        self.consumer.unsubscribe();
    }
}
