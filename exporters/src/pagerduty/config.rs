use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::notify::http::http_url;
use crate::notify::settings::{validate_silences, RateLimit, RouteConfig, SilenceConfig};

/// `pagerduty`: Events API v2, one event per notification, `dedup_key` = the group key's
/// hash, `trigger` while any alert fires and `resolve` after; Alertmanager's
/// `pagerduty_config` key names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutyConfig {
    /// The integration's routing key (32 characters). Redacted by `print-config`, and
    /// added to the event only when it is sent, so queue and dead-letter files do not
    /// hold it.
    pub routing_key: Secret,
    /// The Events API v2 URL (default `https://events.pagerduty.com/v2/enqueue`).
    pub url: String,
    /// `payload.source` (default: this host's name).
    pub source: Option<String>,
    /// `payload.severity` for every event; default: from the `severity` label
    /// (critical, error, warning, info; anything else is `error`).
    pub severity: Option<String>,
    /// The event's `client` (default `Sentinel`).
    pub client: String,
    /// The event's `client_url` (default empty, left out).
    pub client_url: String,
    /// Send `resolve` events (default true, as Alertmanager's PagerDuty).
    pub send_resolved: bool,
    /// Grouping: `group_by`, `group_wait` (30s), `group_interval` (5m), `repeat_interval` (4h).
    pub route: RouteConfig,
    /// Notifications per window (default 30 per 1m).
    pub rate_limit: RateLimit,
    /// Silences from config (the CLI's live in `<data_dir>/silences.json`).
    pub silences: Vec<SilenceConfig>,
    /// Client TLS keys for the `https://` URL.
    pub tls: ClientTlsConfig,
    /// Deadline of one POST (default 10s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The queue events go through: 429 and 5xx are retried, 400 is dead-lettered.
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
}

impl Default for PagerDutyConfig {
    fn default() -> Self {
        PagerDutyConfig {
            routing_key: Secret::default(),
            url: "https://events.pagerduty.com/v2/enqueue".into(),
            source: None,
            severity: None,
            client: "Sentinel".into(),
            client_url: String::new(),
            send_resolved: true,
            route: RouteConfig::default(),
            rate_limit: RateLimit::default(),
            silences: Vec::new(),
            tls: ClientTlsConfig::default(),
            timeout: Duration::from_secs(10),
            sending_queue: QueueSettings::default(),
            retry_on_failure: RetrySettings::default(),
        }
    }
}

impl ComponentConfig for PagerDutyConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.routing_key.expose().is_empty() {
            return Err(ValidationError::at(
                "routing_key",
                "set the integration's routing key",
            ));
        }
        http_url(&self.url).map_err(|e| ValidationError::at("url", e))?;
        if let Some(severity) = &self.severity {
            if !matches!(severity.as_str(), "critical" | "error" | "warning" | "info") {
                return Err(ValidationError::at(
                    "severity",
                    "expected critical, error, warning or info",
                ));
            }
        }
        self.route.validate()?;
        validate_silences(&self.silences)?;
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be greater than 0"));
        }
        Ok(())
    }
}
