use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use sentinel_pipeline::Signal;
use serde::{Deserialize, Serialize};

/// `otlphttp`: sends OTLP over HTTP/1.1 as protobuf or JSON, to `http://` or `https://`
/// URLs (the scheme decides whether TLS is used, as in the Collector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpHttpConfig {
    /// Base URL, e.g. `http://collector:4318`; `/v1/traces`, `/v1/metrics` and `/v1/logs`
    /// are appended.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Full URL for traces, overriding `endpoint`.
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics, overriding `endpoint`.
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs, overriding `endpoint`.
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    /// `proto` (the default) or `json` (OTLP/JSON).
    #[serde(default)]
    pub encoding: Encoding,
    /// `gzip` (the default) or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// HTTP headers sent with every request; values are redacted by `print-config`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// The Collector's client TLS keys, for `https://` URLs: TLS is used for those and
    /// never for `http://` ones, so these keys only apply to `https://`. `insecure: true`
    /// is accepted for Collector configs but only with `http://` URLs, where it changes
    /// nothing.
    #[serde(default)]
    pub tls: ClientTlsConfig,
    /// Deadline of one export attempt.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
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
pub enum Encoding {
    #[default]
    Proto,
    Json,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    None,
}

/// Why a signal has no usable URL.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("set `endpoint` or `{0}_endpoint`")]
    Missing(Signal),
    #[error("invalid URL {text:?}: {source}")]
    Invalid {
        text: String,
        source: hyper::http::uri::InvalidUri,
    },
    #[error("{0}: expected an http:// or https:// URL")]
    NotHttp(String),
}

impl OtlpHttpConfig {
    /// The URL a signal is posted to.
    pub fn url(&self, signal: Signal) -> Result<hyper::Uri, UrlError> {
        let explicit = match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        };
        let text = match (explicit, &self.endpoint) {
            (Some(url), _) => url.clone(),
            (None, Some(base)) => format!("{}/v1/{}", base.trim_end_matches('/'), signal.as_str()),
            (None, None) => return Err(UrlError::Missing(signal)),
        };
        let uri: hyper::Uri = match text.parse() {
            Ok(uri) => uri,
            Err(source) => return Err(UrlError::Invalid { text, source }),
        };
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => Ok(uri),
            _ => Err(UrlError::NotHttp(text)),
        }
    }
}

impl ComponentConfig for OtlpHttpConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        let mut https = false;
        for signal in Signal::ALL {
            let url = self
                .url(signal)
                .map_err(|e| ValidationError::new(e.to_string()))?;
            https |= url.scheme_str() == Some("https");
        }
        if https && self.tls.insecure {
            return Err(ValidationError::at(
                "tls.insecure",
                "an https:// URL always uses TLS; write http:// to send in plaintext",
            ));
        }
        if !https && self.tls.is_set() {
            return Err(ValidationError::at(
                "tls",
                "these settings apply to https:// URLs only, but every URL here is http://",
            ));
        }
        self.tls.validate().map_err(|e| e.within("tls"))?;
        for key in self.headers.keys() {
            hyper::header::HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                ValidationError::new(format!("header {key:?} is not a valid HTTP header name"))
            })?;
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::new("timeout must be greater than 0"));
        }
        Ok(())
    }
}
