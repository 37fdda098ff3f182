use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::tls::{ClientTlsConfig, TlsError};

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
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
    /// Certificates for `https://` URLs. See [`HttpsTls`].
    #[serde(default)]
    pub tls: HttpsTls,
    /// Deadline of one export attempt.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

/// `tls` of `otlphttp`, with the Collector's keys. TLS is used for `https://` URLs and
/// never for `http://` ones, so these keys only apply to `https://`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpsTls {
    /// Accepted for Collector configs: `true` is only valid with `http://` URLs, where it
    /// changes nothing; the URL's scheme is what turns TLS on or off.
    pub insecure: Option<bool>,
    /// Accept any server certificate (encryption without authentication).
    pub insecure_skip_verify: bool,
    /// PEM CA bundle to trust instead of the bundled Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name the server certificate must carry instead of the URL's host.
    pub server_name_override: Option<String>,
}

impl HttpsTls {
    fn is_set(&self) -> bool {
        self.insecure_skip_verify
            || self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.server_name_override.is_some()
    }

    /// The same settings as a TLS-required [`ClientTlsConfig`].
    fn as_client_tls(&self) -> ClientTlsConfig {
        ClientTlsConfig {
            insecure: false,
            insecure_skip_verify: self.insecure_skip_verify,
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            server_name_override: self.server_name_override.clone(),
        }
    }

    /// The rustls settings for `https://` URLs.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let config = self.as_client_tls().client_config()?;
        Ok(config.expect("insecure is false, so TLS settings are built"))
    }
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

impl OtlpHttpConfig {
    /// The URL a signal is posted to.
    pub fn url(&self, signal: Signal) -> Result<hyper::Uri, String> {
        let explicit = match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        };
        let text = match (explicit, &self.endpoint) {
            (Some(url), _) => url.clone(),
            (None, Some(base)) => format!("{}/v1/{}", base.trim_end_matches('/'), signal.as_str()),
            (None, None) => return Err(format!("set `endpoint` or `{signal}_endpoint`")),
        };
        let uri: hyper::Uri = text
            .parse()
            .map_err(|e| format!("invalid URL {text:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => Ok(uri),
            _ => Err(format!("{text}: expected an http:// or https:// URL")),
        }
    }
}

impl ComponentConfig for OtlpHttpConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        let mut https = false;
        for signal in Signal::ALL {
            https |= self.url(signal).map_err(ValidationError::new)?.scheme_str() == Some("https");
        }
        if https && self.tls.insecure == Some(true) {
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
        self.tls
            .as_client_tls()
            .validate()
            .map_err(|e| e.within("tls"))?;
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
