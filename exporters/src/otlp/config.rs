use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

/// `otlp`: sends OTLP over gRPC to another agent, a Collector or a backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// `host:port`, or a URL `http://host:port` (plaintext) / `https://host:port` (TLS).
    /// Required, except in the `loadbalancing` exporter's template, which sets it per backend.
    #[serde(default)]
    pub endpoint: String,
    /// Request compression: `gzip` (the default, as in the Collector), `zstd` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// gRPC metadata sent with every request (e.g. an API key). Values are secrets and are
    /// redacted by `print-config`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Deadline of one export attempt.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The Collector's client TLS keys. TLS is on unless `insecure: true` or an
    /// `http://` endpoint; an `https://` endpoint always uses it. `insecure_skip_verify`
    /// encrypts without checking the server's certificate.
    #[serde(default)]
    pub tls: ClientTlsConfig,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

/// Why the `endpoint` does not name a gRPC target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("endpoint {0:?}: only http:// and https:// are supported")]
    UnsupportedScheme(String),
    #[error("endpoint {0:?}: expected host:port")]
    NotHostPort(String),
}

impl OtlpConfig {
    /// The URI to connect to and whether TLS is used.
    pub fn target(&self) -> Result<(String, bool), TargetError> {
        let endpoint = self.endpoint.trim();
        let (uri, tls) = if let Some(rest) = endpoint.strip_prefix("https://") {
            (format!("https://{rest}"), true)
        } else if let Some(rest) = endpoint.strip_prefix("http://") {
            (format!("http://{rest}"), false)
        } else if endpoint.contains("://") {
            return Err(TargetError::UnsupportedScheme(endpoint.to_string()));
        } else {
            let tls = !self.tls.insecure;
            (
                format!("{}://{endpoint}", if tls { "https" } else { "http" }),
                tls,
            )
        };
        let authority = uri.split_once("://").map(|(_, a)| a).unwrap_or_default();
        let authority = authority.trim_end_matches('/');
        if !authority
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        {
            return Err(TargetError::NotHostPort(endpoint.to_string()));
        }
        Ok((uri, tls))
    }
}

impl ComponentConfig for OtlpConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        self.target()
            .map_err(|e| ValidationError::new(e.to_string()))?;
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(ValidationError::new(
                "tls.cert_file and tls.key_file must be set together",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::new("timeout must be greater than 0"));
        }
        for key in self.headers.keys() {
            if tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(key.as_bytes())
                .is_err()
            {
                return Err(ValidationError::new(format!(
                    "header {key:?} is not a valid gRPC metadata key"
                )));
            }
        }
        Ok(())
    }
}
