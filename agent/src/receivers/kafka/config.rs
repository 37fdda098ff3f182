use std::time::Duration;

use sentinel_exporters::kafka::client::{
    default_brokers, default_client_id, Auth, Connection, Encoding, SignalTopic, Topics,
};
use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

/// `kafka` receiver: reads OTLP records from Kafka topics in a consumer group. The
/// Collector's keys. A partition's offset is committed only up to the last record whose
/// data every exporter queue on its path has accepted, with no gaps, so a crash replays
/// and never loses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaReceiverConfig {
    /// Bootstrap brokers, `host:port`. Default `[localhost:9092]`.
    #[serde(default = "default_brokers")]
    pub brokers: Vec<String>,
    /// Client id sent to the brokers. Default `otel-collector` (the Collector's).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Consumer group. Default `otel-collector` (the Collector's).
    #[serde(default = "default_client_id")]
    pub group_id: String,
    /// Where a group without a committed offset starts: `latest` (default) or `earliest`.
    #[serde(default)]
    pub initial_offset: InitialOffset,
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
    /// Legacy: the encoding of every signal whose block sets none (`otlp_proto` default).
    #[serde(default)]
    pub encoding: Option<Encoding>,
    /// The group session timeout: a member not heard from for this long is removed and
    /// its partitions are given to others. Default 10s.
    #[serde(default = "default_session_timeout", with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Heartbeat interval. Default 3s.
    #[serde(default = "default_heartbeat_interval", with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// SASL settings.
    #[serde(default)]
    pub auth: Auth,
    /// TLS to the brokers; absent (the default) means plaintext, as in the Collector.
    #[serde(default)]
    pub tls: Option<ClientTlsConfig>,
    /// Sentinel: most records handed to the pipelines and not yet acknowledged; consuming
    /// pauses at this many. Default 1000.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Sentinel: how often the acknowledged offsets are committed. Default 1s.
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialOffset {
    #[default]
    Latest,
    Earliest,
}

fn default_session_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_heartbeat_interval() -> Duration {
    Duration::from_secs(3)
}

fn default_max_in_flight() -> usize {
    1000
}

fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}

impl KafkaReceiverConfig {
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

impl ComponentConfig for KafkaReceiverConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        self.connection().validate()?;
        if self.group_id.trim().is_empty() {
            return Err(ValidationError::at("group_id", "must not be empty"));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return Err(ValidationError::at(
                "heartbeat_interval",
                "must be positive and shorter than session_timeout",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ValidationError::at("max_in_flight", "must be at least 1"));
        }
        if self.commit_interval.is_zero() {
            return Err(ValidationError::at("commit_interval", "must be positive"));
        }
        Ok(())
    }
}
