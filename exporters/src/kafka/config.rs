use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use super::client::{
    default_brokers, default_client_id, Auth, Connection, Encoding, SignalTopic, Topics,
};

/// `kafka` exporter: writes OTLP requests as Kafka records. The Collector's keys; stronger
/// defaults: an idempotent producer with `required_acks: -1` (all in-sync replicas), and
/// requests split so that no record exceeds `producer.max_message_bytes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaExporterConfig {
    /// Bootstrap brokers, `host:port`. Default `[localhost:9092]`.
    #[serde(default = "default_brokers")]
    pub brokers: Vec<String>,
    /// Client id sent to the brokers. Default `otel-collector` (the Collector's).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic and encoding of spans; default topic `otlp_spans`.
    #[serde(default)]
    pub traces: SignalTopic,
    /// Topic and encoding of metrics; default topic `otlp_metrics`.
    #[serde(default)]
    pub metrics: SignalTopic,
    /// Topic and encoding of logs; default topic `otlp_logs`.
    #[serde(default)]
    pub logs: SignalTopic,
    /// Legacy: one topic for every signal whose block sets none.
    #[serde(default)]
    pub topic: Option<String>,
    /// Legacy: the encoding of every signal whose block sets none. `otlp_proto` (default)
    /// or `otlp_json`.
    #[serde(default)]
    pub encoding: Option<Encoding>,
    /// Key span records by trace id (hex) so that a trace's spans land in one partition;
    /// requests are split per trace. Default false.
    #[serde(default)]
    pub partition_traces_by_id: bool,
    /// Key metric records by a hash of their resource attributes; one record per resource.
    /// Default false.
    #[serde(default)]
    pub partition_metrics_by_resource_attributes: bool,
    /// Key log records by a hash of their resource attributes; one record per resource.
    /// Default false.
    #[serde(default)]
    pub partition_logs_by_resource_attributes: bool,
    /// Deadline of one export attempt, from hand-off to the broker's acknowledgement of
    /// every record (librdkafka's `message.timeout.ms`). Default 5s.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// SASL settings.
    #[serde(default)]
    pub auth: Auth,
    /// TLS to the brokers; absent (the default) means plaintext, as in the Collector.
    /// `server_name_override` is not supported by the Kafka client.
    #[serde(default)]
    pub tls: Option<ClientTlsConfig>,
    /// Producer settings.
    #[serde(default)]
    pub producer: ProducerSettings,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// `producer`: the Collector's producer keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerSettings {
    /// Largest record value sent. Requests are split by resource, scope and item until
    /// each record fits; a single item that still does not fit goes to the dead-letter
    /// file. Default 1000000 (the broker's default `message.max.bytes` is 1 MiB).
    pub max_message_bytes: usize,
    /// `-1` (default here: every in-sync replica, needed by the idempotent producer), `1`
    /// (the leader only; the Collector's default) or `0` (no acknowledgement). Anything
    /// but `-1` turns idempotence off.
    pub required_acks: i16,
    /// `none` (default), `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: Compression,
    /// How long the producer waits to fill a batch (librdkafka's `linger.ms`). Default 10ms.
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Most records in one produce batch; 0 (default) leaves librdkafka's default (10000).
    pub flush_max_messages: usize,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        ProducerSettings {
            max_message_bytes: 1_000_000,
            required_acks: -1,
            compression: Compression::None,
            linger: Duration::from_millis(10),
            flush_max_messages: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl KafkaExporterConfig {
    pub fn connection(&self) -> Connection<'_> {
        Connection {
            brokers: &self.brokers,
            client_id: &self.client_id,
            auth: &self.auth,
            tls: &self.tls,
        }
    }

    pub fn topics(&self) -> Topics<'_> {
        Topics {
            traces: &self.traces,
            metrics: &self.metrics,
            logs: &self.logs,
            topic: &self.topic,
            encoding: &self.encoding,
        }
    }
}

/// Smallest `max_message_bytes` accepted: room for a request with one small item.
const MIN_MESSAGE_BYTES: usize = 1024;

impl ComponentConfig for KafkaExporterConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        self.connection().validate()?;
        let producer = &self.producer;
        if producer.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(ValidationError::at(
                "producer.max_message_bytes",
                format!("must be at least {MIN_MESSAGE_BYTES}"),
            ));
        }
        if ![-1, 0, 1].contains(&producer.required_acks) {
            return Err(ValidationError::at(
                "producer.required_acks",
                "must be -1 (all in-sync replicas), 0 or 1",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be positive"));
        }
        if self.timeout <= producer.linger {
            return Err(ValidationError::at(
                "timeout",
                "must be longer than producer.linger",
            ));
        }
        Ok(())
    }
}
