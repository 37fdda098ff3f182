use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::notify::http::http_url;
use crate::notify::settings::{validate_silences, RateLimit, SilenceConfig};

/// `alertmanager`: posts alerts to an Alertmanager's v2 API (`POST /api/v2/alerts`), as
/// Prometheus does. No grouping here: Alertmanager groups, and it is fed by the
/// alert_rules connector's re-sends (every firing alert each `resend_delay`, resolved ones
/// for 15 minutes), each batch of records becoming one POST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL (`http://alertmanager:9093`); `/api/v2/alerts` is appended.
    /// Redacted by `print-config` (it may carry credentials).
    pub api_url: Secret,
    /// Headers sent with every request (e.g. `Authorization`); values are redacted.
    pub headers: BTreeMap<String, Secret>,
    /// POSTs per window (default 30 per 1m).
    pub rate_limit: RateLimit,
    /// Silenced alerts are not posted (the CLI's silences live in `<data_dir>/silences.json`).
    pub silences: Vec<SilenceConfig>,
    /// Client TLS keys for `https://` URLs.
    pub tls: ClientTlsConfig,
    /// Deadline of one POST (default 10s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The queue the POSTs go through.
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            api_url: Secret::default(),
            headers: BTreeMap::new(),
            rate_limit: RateLimit::default(),
            silences: Vec::new(),
            tls: ClientTlsConfig::default(),
            timeout: Duration::from_secs(10),
            sending_queue: QueueSettings::default(),
            retry_on_failure: RetrySettings::default(),
        }
    }
}

impl AlertmanagerConfig {
    pub fn alerts_url(&self) -> Result<hyper::Uri, String> {
        http_url(&format!(
            "{}/api/v2/alerts",
            self.api_url.expose().trim_end_matches('/')
        ))
    }
}

impl ComponentConfig for AlertmanagerConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        http_url(self.api_url.expose()).map_err(|e| ValidationError::at("api_url", e))?;
        for key in self.headers.keys() {
            hyper::header::HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                ValidationError::at("headers", format!("{key:?} is not a valid header name"))
            })?;
        }
        validate_silences(&self.silences)?;
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be greater than 0"));
        }
        Ok(())
    }
}
