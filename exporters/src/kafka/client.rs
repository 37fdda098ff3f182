//! What the `kafka` exporter and the `kafka` receiver share: the connection keys (`brokers`,
//! `client_id`, `auth`, `tls`), the per-signal `topic`/`encoding` blocks, the record
//! encodings, and the librdkafka settings built from them.

use std::path::Path;

use rdkafka::ClientConfig;
use sentinel_pipeline::config::{Secret, ValidationError};
use sentinel_pipeline::tls::ClientTlsConfig;
use sentinel_pipeline::{Payload, Signal};
use serde::{Deserialize, Serialize};

/// The Collector's default `client_id` (and the receiver's default `group_id`).
pub const DEFAULT_CLIENT_ID: &str = "otel-collector";

pub fn default_brokers() -> Vec<String> {
    vec!["localhost:9092".to_string()]
}

pub fn default_client_id() -> String {
    DEFAULT_CLIENT_ID.to_string()
}

/// How OTLP requests are written into record values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The OTLP protobuf export request (the default).
    #[default]
    OtlpProto,
    /// OTLP/JSON.
    OtlpJson,
}

/// Why a record value cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not an OTLP protobuf {signal} request: {source}")]
    Proto {
        signal: Signal,
        source: prost::DecodeError,
    },
    #[error("not an OTLP/JSON {signal} request: {source}")]
    Json {
        signal: Signal,
        source: serde_json::Error,
    },
}

impl Encoding {
    pub fn encode(self, payload: &Payload) -> Vec<u8> {
        match self {
            Encoding::OtlpProto => payload.encode_to_vec(),
            // Serializing the generated structs to a Vec cannot fail (no maps with
            // non-string keys, no I/O).
            Encoding::OtlpJson => match payload {
                Payload::Traces(r) => serde_json::to_vec(r),
                Payload::Metrics(r) => serde_json::to_vec(r),
                Payload::Logs(r) => serde_json::to_vec(r),
            }
            .unwrap_or_default(),
        }
    }

    pub fn decode(self, signal: Signal, bytes: &[u8]) -> Result<Payload, DecodeError> {
        match self {
            Encoding::OtlpProto => Payload::decode(signal, bytes)
                .map_err(|source| DecodeError::Proto { signal, source }),
            Encoding::OtlpJson => {
                let json = |source| DecodeError::Json { signal, source };
                Ok(match signal {
                    Signal::Traces => Payload::Traces(serde_json::from_slice(bytes).map_err(json)?),
                    Signal::Metrics => {
                        Payload::Metrics(serde_json::from_slice(bytes).map_err(json)?)
                    }
                    Signal::Logs => Payload::Logs(serde_json::from_slice(bytes).map_err(json)?),
                })
            }
        }
    }
}

/// `traces`, `metrics` or `logs`: the topic and encoding of one signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalTopic {
    /// Topic; default `otlp_spans`, `otlp_metrics` or `otlp_logs` (or the legacy top-level
    /// `topic` when that is set).
    pub topic: Option<String>,
    /// `otlp_proto` (default) or `otlp_json`; default the legacy top-level `encoding`.
    pub encoding: Option<Encoding>,
}

/// The per-signal blocks plus the legacy top-level `topic`/`encoding` that apply to every
/// signal, resolved in the Collector's order: the signal's block, then the top-level key,
/// then the default.
pub struct Topics<'a> {
    pub traces: &'a SignalTopic,
    pub metrics: &'a SignalTopic,
    pub logs: &'a SignalTopic,
    pub topic: &'a Option<String>,
    pub encoding: &'a Option<Encoding>,
}

impl Topics<'_> {
    fn block(&self, signal: Signal) -> &SignalTopic {
        match signal {
            Signal::Traces => self.traces,
            Signal::Metrics => self.metrics,
            Signal::Logs => self.logs,
        }
    }

    pub fn topic(&self, signal: Signal) -> String {
        self.block(signal)
            .topic
            .clone()
            .or_else(|| self.topic.clone())
            .unwrap_or_else(|| default_topic(signal).to_string())
    }

    pub fn encoding(&self, signal: Signal) -> Encoding {
        self.block(signal)
            .encoding
            .or(*self.encoding)
            .unwrap_or_default()
    }
}

pub fn default_topic(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "otlp_spans",
        Signal::Metrics => "otlp_metrics",
        Signal::Logs => "otlp_logs",
    }
}

/// `auth`: SASL. (TLS is the top-level `tls` block, as in the current Collector.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub sasl: Option<Sasl>,
}

/// `auth.sasl`: user name and password authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    pub username: String,
    /// Redacted by `print-config`.
    pub password: Secret,
    /// `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub mechanism: SaslMechanism,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[default]
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// The connection keys both components share.
pub struct Connection<'a> {
    pub brokers: &'a [String],
    pub client_id: &'a str,
    pub auth: &'a Auth,
    pub tls: &'a Option<ClientTlsConfig>,
}

impl Connection<'_> {
    /// Checks the shared keys; paths are the keys' own.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.brokers.is_empty() || self.brokers.iter().any(|b| b.trim().is_empty()) {
            return Err(ValidationError::at(
                "brokers",
                "list at least one host:port",
            ));
        }
        if let Some(tls) = self.tls {
            tls.validate().map_err(|e| e.within("tls"))?;
            if tls.server_name_override.is_some() {
                return Err(ValidationError::at(
                    "tls.server_name_override",
                    "not supported by the Kafka client (librdkafka); connect by the name the \
                     broker's certificate carries",
                ));
            }
        }
        Ok(())
    }

    /// The librdkafka settings for brokers, client id, SASL and TLS.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", self.client_id);
        let tls = self.tls.as_ref().filter(|tls| !tls.insecure);
        let protocol = match (&self.auth.sasl, tls.is_some()) {
            (None, false) => "plaintext",
            (None, true) => "ssl",
            (Some(_), false) => "sasl_plaintext",
            (Some(_), true) => "sasl_ssl",
        };
        config.set("security.protocol", protocol);
        if let Some(sasl) = &self.auth.sasl {
            config
                .set("sasl.mechanism", sasl.mechanism.as_str())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", sasl.password.expose());
        }
        if let Some(tls) = tls {
            set_path(&mut config, "ssl.ca.location", tls.ca_file.as_deref());
            set_path(
                &mut config,
                "ssl.certificate.location",
                tls.cert_file.as_deref(),
            );
            set_path(&mut config, "ssl.key.location", tls.key_file.as_deref());
            if tls.insecure_skip_verify {
                config
                    .set("enable.ssl.certificate.verification", "false")
                    .set("ssl.endpoint.identification.algorithm", "none");
            } else {
                config.set("ssl.endpoint.identification.algorithm", "https");
            }
        }
        config
    }
}

fn set_path(config: &mut ClientConfig, key: &str, path: Option<&Path>) {
    if let Some(path) = path {
        config.set(key, path.to_string_lossy().into_owned());
    }
}
