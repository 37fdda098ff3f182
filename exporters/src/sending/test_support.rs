//! A scriptable sink and helpers shared by the sending-queue tests.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::sending::{FsyncPolicy, QueueKind, WhenFull};
use sentinel_pipeline::{
    ack_pair, AckWaiter, Acks, BuiltExporter, Consumer, Encoded, EncodedMessage, ExportError,
    Exporter, Held, Message, Payload, QueueSettings, RetrySettings, SelfMetrics, SharedBatch,
    Signal,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{start_queue, QueueContext, QueueHandle};

pub(crate) const ID: &str = "test/sink";

/// A log request with `records` log records whose body is `body`.
pub(crate) fn logs(body: &str, records: usize) -> Payload {
    let record = LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.to_string())),
        }),
        ..Default::default()
    };
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record; records],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// The body of every log record, one entry per resource (each test request is one).
pub(crate) fn bodies(payload: &Payload) -> Vec<String> {
    let Payload::Logs(request) = payload else {
        return Vec::new();
    };
    request
        .resource_logs
        .iter()
        .filter_map(|rl| rl.scope_logs.first()?.log_records.first()?.body.clone())
        .filter_map(|body| match body.value {
            Some(any_value::Value::StringValue(text)) => Some(text),
            _ => None,
        })
        .collect()
}

/// A sink that does what the test says: scripted results first, then `otherwise`;
/// bodies containing `reject` fail for good. With a gate, each export waits for a permit.
#[derive(Default)]
pub(crate) struct TestSink {
    pub script: Mutex<VecDeque<ExportError>>,
    pub otherwise: Mutex<Option<ExportError>>,
    pub reject: Mutex<Option<String>>,
    pub gate: Option<Semaphore>,
    /// Bodies of the requests the sink accepted, in order.
    pub delivered: Mutex<Vec<String>>,
    pub attempts: AtomicUsize,
    pub attempt_times: Mutex<Vec<Instant>>,
    pub shutdowns: AtomicUsize,
    /// Takes records still encoded ([`Exporter::takes_encoded`]).
    pub keeps_encoded: bool,
    /// Records handed over still encoded, and decoded.
    pub encoded_seen: AtomicUsize,
    pub decoded_seen: AtomicUsize,
}

impl TestSink {
    pub fn accepting() -> Arc<TestSink> {
        Arc::new(TestSink::default())
    }

    pub fn keeping_encoded() -> Arc<TestSink> {
        Arc::new(TestSink {
            keeps_encoded: true,
            ..TestSink::default()
        })
    }

    pub fn gated() -> Arc<TestSink> {
        Arc::new(TestSink {
            gate: Some(Semaphore::new(0)),
            ..TestSink::default()
        })
    }

    pub fn failing(error: ExportError) -> Arc<TestSink> {
        Arc::new(TestSink {
            otherwise: Mutex::new(Some(error)),
            ..TestSink::default()
        })
    }

    pub fn open_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(1 << 20);
        }
    }

    pub fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Exporter for TestSink {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.attempt_times.lock().unwrap().push(Instant::now());
        if let Some(gate) = &self.gate {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
        }
        let bodies = bodies(&payload);
        if let Some(reject) = self.reject.lock().unwrap().as_deref() {
            if bodies.iter().any(|b| b.contains(reject)) {
                return Err(ExportError::permanent(format!("sink rejects {reject}")));
            }
        }
        if let Some(error) = self.script.lock().unwrap().pop_front() {
            return Err(error);
        }
        if let Some(error) = self.otherwise.lock().unwrap().clone() {
            return Err(error);
        }
        self.delivered.lock().unwrap().extend(bodies);
        Ok(())
    }

    async fn export_shared(&self, batch: SharedBatch) -> Result<(), ExportError> {
        for data in batch.data() {
            let seen = match data {
                Held::Encoded(_) => &self.encoded_seen,
                Held::Decoded(_) => &self.decoded_seen,
            };
            seen.fetch_add(1, Ordering::SeqCst);
        }
        self.export_records(batch.to_record_batch()).await
    }

    fn takes_encoded(&self) -> bool {
        self.keeps_encoded
    }

    async fn shutdown(&self) {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

pub(crate) fn fast_retry() -> RetrySettings {
    RetrySettings {
        enabled: true,
        initial_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(40),
        multiplier: 2.0,
        max_elapsed_time: Duration::ZERO,
    }
}

pub(crate) fn memory_settings(queue_size: usize, when_full: WhenFull) -> QueueSettings {
    QueueSettings {
        kind: QueueKind::Memory,
        queue_size,
        num_consumers: 1,
        when_full,
        ..QueueSettings::default()
    }
}

pub(crate) fn disk_settings(dir: &Path, max_size: u64, fsync: FsyncPolicy) -> QueueSettings {
    QueueSettings {
        kind: QueueKind::Disk,
        num_consumers: 2,
        directory: Some(dir.to_path_buf()),
        max_size: Some(max_size),
        fsync,
        ..QueueSettings::default()
    }
}

/// A running queue around a test sink.
pub(crate) struct Harness {
    pub metrics: Arc<SelfMetrics>,
    pub consumer: Arc<dyn Consumer>,
    pub handle: QueueHandle,
}

pub(crate) fn start(
    data_dir: &Path,
    sink: &Arc<TestSink>,
    queue: QueueSettings,
    retry: RetrySettings,
) -> Harness {
    let metrics = SelfMetrics::new();
    let ctx = QueueContext {
        id: ID.to_string(),
        metrics: metrics.clone(),
        data_dir: data_dir.to_path_buf(),
    };
    let built = BuiltExporter {
        exporter: sink.clone(),
        queue,
        retry,
    };
    let (consumer, handle) =
        start_queue(ctx, built, &[Signal::Logs, Signal::Traces]).expect("queue starts");
    Harness {
        metrics,
        consumer,
        handle,
    }
}

impl Harness {
    /// Hands a request to the queue; the waiter tells whether the client was acknowledged.
    pub fn send(&self, payload: Payload) -> (Result<(), sentinel_pipeline::Refusal>, AckWaiter) {
        let (token, waiter) = ack_pair();
        let acks = Acks::one(token);
        let result = self.consumer.consume(Message::new(payload, acks.clone()));
        if let Err(refusal) = &result {
            acks.refuse(refusal);
        }
        (result, waiter)
    }

    /// Hands a request to the queue still encoded, as a receiver forwards it; true if the
    /// client was told "accepted".
    pub async fn send_encoded_acked(&self, payload: Payload) -> bool {
        let (token, waiter) = ack_pair();
        let request = Encoded::new(
            payload.signal(),
            payload.encode_to_vec().into(),
            payload.item_count(),
        );
        let acks = Acks::one(token);
        let result = self.consumer.consume_encoded(EncodedMessage {
            request,
            acks: acks.clone(),
        });
        if let Err(refusal) = &result {
            acks.refuse(refusal);
        }
        drop(acks);
        result.is_ok() && waiter.wait().await.is_ok()
    }

    /// Sends and waits for the acknowledgement; true if the client was told "accepted".
    pub async fn send_acked(&self, payload: Payload) -> bool {
        let (result, waiter) = self.send(payload);
        result.is_ok() && waiter.wait().await.is_ok()
    }

    pub fn counts(&self, signal: Signal) -> sentinel_pipeline::testing::ComponentCounts {
        sentinel_pipeline::testing::component_counts(
            &self.metrics,
            sentinel_pipeline::Kind::Exporter,
            ID,
            signal,
        )
    }

    /// A queue series (`sentinel_queue_*`) of this queue, 0 if absent.
    pub fn queue_metric(&self, series: &str) -> f64 {
        queue_metric(&self.metrics, series)
    }

    pub async fn drain_within(self, timeout: Duration) {
        self.handle.drain(Instant::now() + timeout).await;
    }
}

pub(crate) fn queue_metric(metrics: &SelfMetrics, series: &str) -> f64 {
    let label = format!("{{component_id=\"{ID}\"}} ");
    metrics
        .encode()
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(&label)?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// Polls `condition` every 10 ms; panics with `what` after `timeout`.
pub(crate) async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() >= deadline {
            panic!("timed out waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
