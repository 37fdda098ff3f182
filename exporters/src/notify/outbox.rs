//! The outbox: rendered notifications go through the exporter's real sending queue
//! (`sending_queue`: memory or disk, retries, dead letters). Each notification is one
//! queue record holding one log record: body = the rendered request, attribute
//! `notification.key` = the group key hash the receiver deduplicates by.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::common::v1::any_value::Value;
use sentinel_pipeline::otlp::common::v1::{AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::{
    visit, BuildError, BuiltExporter, Consumer, ExportError, Exporter, Message, Payload,
    QueueSettings, RecordBatch, Refusal, RetrySettings, SelfMetrics, Signal,
};
use tokio::time::Instant;

use crate::sending::{start_queue, QueueContext, QueueHandle};

const KEY: &str = "notification.key";

/// What a notifier sends: the request body and the key it is deduplicated by.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub key: String,
    pub body: String,
}

/// How a notifier delivers one rendered notification (one attempt).
#[async_trait]
pub trait Deliver: Send + Sync + 'static {
    async fn deliver(&self, rendered: &Rendered) -> Result<(), ExportError>;
}

pub struct Outbox {
    consumer: Arc<dyn Consumer>,
    handle: Mutex<Option<QueueHandle>>,
}

/// The queue's id: `<exporter id>/outbox`, its own self-metrics and queue directory.
pub fn outbox_id(id: &str) -> String {
    format!("{id}/outbox")
}

impl Outbox {
    pub fn start(
        id: &str,
        metrics: Arc<SelfMetrics>,
        data_dir: &std::path::Path,
        deliver: Arc<dyn Deliver>,
        queue: QueueSettings,
        retry: RetrySettings,
    ) -> Result<Outbox, BuildError> {
        let context = QueueContext {
            id: outbox_id(id),
            metrics,
            data_dir: data_dir.to_path_buf(),
        };
        // One consumer: a group's notifications must reach the receiver in the order they
        // were made (a stale `trigger` after a `resolve` would reopen an incident).
        let queue = QueueSettings {
            num_consumers: 1,
            ..queue
        };
        let built = BuiltExporter {
            exporter: Arc::new(Delivery {
                deliver,
                done: Mutex::new(Done::default()),
            }),
            queue,
            retry,
        };
        let (consumer, handle) = start_queue(context, built, &[Signal::Logs])?;
        Ok(Outbox {
            consumer,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Queues one notification; a full queue refuses it.
    pub fn push(&self, rendered: &Rendered) -> Result<(), Refusal> {
        self.consumer
            .consume(Message::unacked(Payload::Logs(encode(rendered))))
    }

    /// Delivers what it can within `grace`; a disk queue keeps the rest.
    pub async fn drain(&self, grace: Duration) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            handle.drain(Instant::now() + grace).await;
        }
    }
}

fn encode(rendered: &Rendered) -> ExportLogsServiceRequest {
    let text = |s: &str| AnyValue {
        value: Some(Value::StringValue(s.to_string())),
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    event_name: "sentinel.notification".into(),
                    body: Some(text(&rendered.body)),
                    attributes: vec![KeyValue {
                        key: KEY.into(),
                        value: Some(text(&rendered.key)),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn decode(payload: &Payload) -> Vec<Rendered> {
    let Payload::Logs(request) = payload else {
        return Vec::new();
    };
    let text = |v: Option<&AnyValue>| match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        _ => String::new(),
    };
    visit::items(request)
        .map(|(_, _, record)| Rendered {
            body: text(record.body.as_ref()),
            key: text(
                record
                    .attributes
                    .iter()
                    .find(|kv| kv.key == KEY)
                    .and_then(|kv| kv.value.as_ref()),
            ),
        })
        .collect()
}

/// Records delivered in this process, so a batch retried after a partial failure does not
/// send its delivered notifications again.
#[derive(Default)]
struct Done {
    set: HashSet<(u128, u64)>,
    order: VecDeque<(u128, u64)>,
}

const DONE_CAPACITY: usize = 4096;

impl Done {
    fn insert(&mut self, id: (u128, u64)) {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > DONE_CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

struct Delivery {
    deliver: Arc<dyn Deliver>,
    done: Mutex<Done>,
}

#[async_trait]
impl Exporter for Delivery {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        for rendered in decode(&payload) {
            self.deliver.deliver(&rendered).await?;
        }
        Ok(())
    }

    async fn export_records(&self, batch: RecordBatch) -> Result<(), ExportError> {
        for record in &batch.records {
            let id = (batch.queue_id, record.seq);
            if self
                .done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .set
                .contains(&id)
            {
                continue;
            }
            self.export(record.payload.clone()).await?;
            self.done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id);
        }
        Ok(())
    }
}
