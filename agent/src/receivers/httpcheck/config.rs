//! `receivers.httpcheck`: the OpenTelemetry Collector's httpcheck keys (`targets` with
//! `endpoint`/`endpoints`, `method`, `headers`, `body`, `timeout`, `tls`, `validations`;
//! `collection_interval`, `initial_delay`), plus Sentinel's `expected_status`.

use std::time::Duration;

use hyper::Uri;
use indexmap::IndexMap;
use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::receivers::database::validate_interval;

/// The httpcheck receiver: sends one request to every endpoint of every target each
/// `collection_interval` and reports the status class, the time each phase took, the
/// server certificate's remaining lifetime and any error.
///
/// ```yaml
/// httpcheck:
///   collection_interval: 30s
///   targets:
///     - endpoint: https://api.internal/healthz
///       timeout: 5s
///       expected_status: [200]
///       validations:
///         - contains: '"status":"ok"'
///       tls:
///         ca_file: /etc/ssl/internal-ca.pem
///     - endpoints: [http://127.0.0.1:8080/ready, http://127.0.0.1:8081/ready]
///       method: HEAD
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpCheckConfig {
    /// What to probe. Required: at least one target.
    pub targets: Vec<HttpTarget>,
    /// How often to probe, e.g. `30s`. Default `60s`, as in the Collector.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first probe. Default `1s`, as in the Collector.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
}

/// One target: one request shape sent to one or more URLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpTarget {
    /// One URL, `http://` or `https://`. `endpoint`, `endpoints` or both must be set.
    pub endpoint: Option<String>,
    /// More URLs probed with the same settings.
    pub endpoints: Vec<String>,
    /// Request method. Default `GET`.
    pub method: String,
    /// Request headers. Values are shown as `[redacted]` by `print-config` (they often
    /// carry tokens); write `${env:TOKEN}` rather than the value.
    pub headers: IndexMap<String, Secret>,
    /// Request body. Default empty (no body).
    pub body: String,
    /// How long one probe may take, from the name lookup to the last byte of the
    /// response body. A probe that takes longer reports `httpcheck.error` with a
    /// message naming the phase it was in. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Status codes that count as success (Sentinel's key). Default empty: any status
    /// is only reported in `httpcheck.status`. When set, any other status also reports
    /// `httpcheck.error` with `error.message` = `unexpected status <code>`.
    pub expected_status: Vec<u16>,
    /// Checks of the response body, each reported in `httpcheck.validation.passed` or
    /// `httpcheck.validation.failed` with `validation.type`. The body is read up to
    /// 1 MiB; a longer body fails every check but `min_size`.
    pub validations: Vec<Validation>,
    /// Client TLS settings for `https://` URLs, with the Collector's keys (see
    /// [`ClientTlsConfig`]). The URL's scheme decides whether TLS is used, so these
    /// keys only apply to `https://`; `insecure: true` is accepted for Collector
    /// configs but only with `http://` URLs, where it changes nothing.
    pub tls: ClientTlsConfig,
}

/// One check of the response body: exactly one key set (the Collector's `validations`
/// entries; `json_path` is not supported).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Validation {
    /// The body contains this text.
    pub contains: Option<String>,
    /// The body does not contain this text.
    pub not_contains: Option<String>,
    /// The body matches this regular expression (Rust `regex` syntax, unanchored).
    pub regex: Option<String>,
    /// The body has at most this many bytes.
    pub max_size: Option<u64>,
    /// The body has at least this many bytes.
    pub min_size: Option<u64>,
}

impl Default for HttpCheckConfig {
    fn default() -> Self {
        HttpCheckConfig {
            targets: Vec::new(),
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
        }
    }
}

impl Default for HttpTarget {
    fn default() -> Self {
        HttpTarget {
            endpoint: None,
            endpoints: Vec::new(),
            method: "GET".to_string(),
            headers: IndexMap::new(),
            body: String::new(),
            timeout: Duration::from_secs(10),
            expected_status: Vec::new(),
            validations: Vec::new(),
            tls: ClientTlsConfig::default(),
        }
    }
}

impl HttpTarget {
    /// `endpoint` then `endpoints`.
    pub fn urls(&self) -> impl Iterator<Item = &String> {
        self.endpoint.iter().chain(self.endpoints.iter())
    }
}

impl ComponentConfig for HttpCheckConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_interval(self.collection_interval)?;
        if self.targets.is_empty() {
            return Err(ValidationError::at(
                "targets",
                "list at least one target (`- endpoint: https://host/path`)",
            ));
        }
        for (i, target) in self.targets.iter().enumerate() {
            target
                .validate()
                .map_err(|e| e.within(&format!("targets.{i}")))?;
        }
        Ok(())
    }
}

impl HttpTarget {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.urls().next().is_none() {
            return Err(ValidationError::new("set `endpoint` or `endpoints`"));
        }
        let mut https = false;
        for url in self.urls() {
            let uri = parse_url(url).map_err(|e| ValidationError::at("endpoint", e.to_string()))?;
            https |= uri.scheme_str() == Some("https");
        }
        if https && self.tls.insecure {
            return Err(ValidationError::at(
                "tls.insecure",
                "an https:// URL always uses TLS; write http:// to probe in plaintext",
            ));
        }
        if !https && self.tls.is_set() {
            return Err(ValidationError::at(
                "tls",
                "these settings apply to https:// URLs only, but every URL here is http://",
            ));
        }
        hyper::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| ValidationError::at("method", "not a valid HTTP method"))?;
        for (name, value) in &self.headers {
            hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ValidationError::at("headers", format!("{name:?}: bad name")))?;
            hyper::header::HeaderValue::from_str(value.expose())
                .map_err(|_| ValidationError::at("headers", format!("{name:?}: bad value")))?;
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be more than 0s"));
        }
        if let Some(code) = self
            .expected_status
            .iter()
            .find(|c| !(100..=599).contains(*c))
        {
            return Err(ValidationError::at(
                "expected_status",
                format!("{code} is not an HTTP status code (100-599)"),
            ));
        }
        for (i, validation) in self.validations.iter().enumerate() {
            validation
                .validate()
                .map_err(|e| e.within(&format!("validations.{i}")))?;
        }
        self.tls.validate().map_err(|e| e.within("tls"))
    }
}

impl Validation {
    fn validate(&self) -> Result<(), ValidationError> {
        let set = [
            self.contains.is_some(),
            self.not_contains.is_some(),
            self.regex.is_some(),
            self.max_size.is_some(),
            self.min_size.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(ValidationError::new(
                "set exactly one of contains, not_contains, regex, max_size, min_size",
            ));
        }
        if let Some(pattern) = &self.regex {
            regex::Regex::new(pattern).map_err(|e| ValidationError::at("regex", e.to_string()))?;
        }
        Ok(())
    }
}

/// Why an `endpoint` is not a URL a probe can send to.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{text:?} is not a URL: {source}")]
    NotUrl {
        text: String,
        source: hyper::http::uri::InvalidUri,
    },
    #[error("{0:?}: the scheme must be http:// or https://")]
    Scheme(String),
    #[error("{0:?} has no host")]
    NoHost(String),
}

/// A URL a probe can send to: `http` or `https` with a host.
pub fn parse_url(text: &str) -> Result<Uri, UrlError> {
    let uri: Uri = text.parse().map_err(|source| UrlError::NotUrl {
        text: text.to_string(),
        source,
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(UrlError::Scheme(text.to_string())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost(text.to_string()));
    }
    Ok(uri)
}
