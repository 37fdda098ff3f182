//! `kafka` exporter: OTLP requests as Kafka records, through librdkafka (the `rdkafka`
//! crate). See docs/kafka.md.
//!
//! Each export call splits its request into records that fit `max_message_bytes` (and by
//! partition key), produces them all, and waits for the broker's acknowledgement of every
//! one. A record the broker or the client rejects for its size goes to the dead-letter file
//! with the reason while the others are delivered; any other failure is retryable, and
//! the sending queue retries the whole request (records already written are written
//! again: at least once).

pub mod client;
#[cfg(test)]
mod compliance;
mod config;
pub mod split;
#[cfg(test)]
mod tests;

pub use config::{Compression, KafkaExporterConfig, ProducerSettings};

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::sending::QueueSettings;
use sentinel_pipeline::telemetry::ComponentLabels;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, Signal,
};

use crate::sending::dead_letter::DeadLetters;
use client::Encoding;
use split::{Keying, Record};

/// Room left in `max_message_bytes` for the record's key, headers and framing.
const RECORD_OVERHEAD: usize = 512;

pub struct KafkaExporterFactory;

impl Factory for KafkaExporterFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "kafka",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description:
                "Writes OTLP requests to Kafka topics (idempotent producer, records split to fit)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<KafkaExporterConfig>(node)
    }
}

impl ExporterFactory for KafkaExporterFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: KafkaExporterConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let exporter = KafkaExporter::new(&config, &ctx).map_err(|e| BuildError::Other {
            component: ctx.id.clone(),
            message: e.to_string(),
        })?;
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        })
    }
}

/// One signal's destination.
struct Route {
    topic: String,
    encoding: Encoding,
    keying: Keying,
}

pub struct KafkaExporter {
    producer: FutureProducer,
    routes: [Route; 3],
    max_value_bytes: usize,
    dead_letters: DeadLetters,
    dead_lettered: Family<ComponentLabels, Counter<u64, AtomicU64>>,
    id: String,
    timeout: Duration,
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl KafkaExporter {
    pub fn new(config: &KafkaExporterConfig, ctx: &BuildContext) -> Result<Self, KafkaError> {
        let producer: FutureProducer = producer_config(config).create()?;
        let topics = config.topics();
        let route = |signal: Signal, keyed: bool, keying: Keying| Route {
            topic: topics.topic(signal),
            encoding: topics.encoding(signal),
            keying: if keyed { keying } else { Keying::None },
        };
        let settings: &QueueSettings = &config.sending_queue;
        Ok(KafkaExporter {
            producer,
            routes: [
                route(Signal::Traces, config.partition_traces_by_id, Keying::TraceId),
                route(
                    Signal::Metrics,
                    config.partition_metrics_by_resource_attributes,
                    Keying::ResourceAttributes,
                ),
                route(
                    Signal::Logs,
                    config.partition_logs_by_resource_attributes,
                    Keying::ResourceAttributes,
                ),
            ],
            max_value_bytes: config.producer.max_message_bytes.saturating_sub(RECORD_OVERHEAD),
            dead_letters: DeadLetters::new(
                crate::sending::dead_letter_path(&ctx.data_dir, &ctx.id, settings),
                &ctx.id,
                settings.dead_letter.clone(),
                crate::sending::metrics::dead_letters_dropped(&ctx.metrics, &ctx.id),
            ),
            dead_lettered: ctx.metrics.family(
                "kafka_exporter_dead_lettered_records",
                "Kafka records (parts of a request) written to the dead-letter file because the client or the broker refused them for good, while the rest of their request was delivered",
                Family::default,
            ),
            id: ctx.id.clone(),
            timeout: config.timeout,
        })
    }

    /// Writes part of a request to the dead-letter file (on a blocking thread).
    async fn dead_letter(&self, payload: Payload, reason: String) {
        let labels = ComponentLabels {
            component_kind: Kind::Exporter.as_str().to_string(),
            component_id: self.id.clone(),
            signal: payload.signal().as_str().to_string(),
        };
        self.dead_lettered.get_or_create(&labels).inc();
        let items = payload.item_count();
        let written = tokio::task::block_in_place(|| self.dead_letters.write(&payload, &reason));
        match written {
            Ok(()) => {
                tracing::warn!(exporter = %self.id, items, %reason, file = %self.dead_letters.path().display(), "Kafka refused a record for good; it was written to the dead-letter file.")
            }
            Err(error) => {
                tracing::error!(exporter = %self.id, items, %reason, %error, "Kafka refused a record for good and the dead-letter file cannot be written; the data is lost.")
            }
        }
    }

    /// Hands every record to the producer; `Err` if the client cannot take one now.
    async fn produce(
        &self,
        route: &Route,
        records: Vec<Record>,
    ) -> (Vec<(Payload, DeliveryFuture)>, Option<ExportError>) {
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            let mut future_record = FutureRecord::to(&route.topic).payload(&record.value);
            if let Some(key) = &record.key {
                future_record = future_record.key(key);
            }
            match self.producer.send_result(future_record) {
                Ok(delivery) => pending.push((record.payload, delivery)),
                Err((error, _)) if is_permanent(&error) => {
                    self.dead_letter(record.payload, format!("kafka client: {error}"))
                        .await
                }
                Err((error, _)) => {
                    return (
                        pending,
                        Some(ExportError::retryable(format!("kafka client: {error}"))),
                    )
                }
            }
        }
        (pending, None)
    }
}

#[async_trait]
impl Exporter for KafkaExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let route = &self.routes[index(payload.signal())];
        let split = split::split(payload, route.keying, route.encoding, self.max_value_bytes);
        for (payload, size) in split.oversized {
            let reason = format!(
                "a single item encodes to {size} bytes, more than producer.max_message_bytes allows ({} after {RECORD_OVERHEAD} bytes of record overhead)",
                self.max_value_bytes
            );
            self.dead_letter(payload, reason).await;
        }
        let (pending, mut failure) = self.produce(route, split.records).await;
        for (payload, delivery) in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) if is_permanent(&error) => {
                    self.dead_letter(payload, format!("kafka broker: {error}"))
                        .await
                }
                Ok(Err((error, _))) => {
                    failure.get_or_insert(ExportError::retryable(format!("kafka: {error}")));
                }
                Err(_) => {
                    failure.get_or_insert(ExportError::retryable("kafka producer closed"));
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    async fn shutdown(&self) {
        let producer = self.producer.clone();
        let timeout = self.timeout;
        let _ = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
    }
}

/// Errors that retrying cannot mend: the record is too large or malformed for the broker.
fn is_permanent(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

/// librdkafka's producer settings from the config.
fn producer_config(config: &KafkaExporterConfig) -> rdkafka::ClientConfig {
    let producer = &config.producer;
    let mut client = config.connection().client_config();
    let idempotent = producer.required_acks == -1;
    client
        .set("acks", producer.required_acks.to_string())
        .set("enable.idempotence", idempotent.to_string())
        .set("compression.type", producer.compression.as_str())
        .set(
            "message.max.bytes",
            producer.max_message_bytes.max(1000).to_string(),
        )
        .set("linger.ms", producer.linger.as_millis().to_string())
        .set("message.timeout.ms", config.timeout.as_millis().to_string());
    if producer.flush_max_messages > 0 {
        client.set(
            "batch.num.messages",
            producer.flush_max_messages.to_string(),
        );
    }
    client
}
