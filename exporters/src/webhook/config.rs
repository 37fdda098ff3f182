use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::notify::http::http_url;
use crate::notify::settings::{validate_silences, RateLimit, RouteConfig, SilenceConfig};

/// `webhook`: POSTs Alertmanager's webhook body (version "4") for each notification of a
/// group, like Alertmanager's `webhook_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where the body is POSTed (`http://` or `https://`). Redacted by `print-config`:
    /// webhook URLs often carry a token.
    pub url: Secret,
    /// Most alerts in one body (0: all); the rest are counted in `truncatedAlerts`.
    pub max_alerts: usize,
    /// Notify when a group's alerts resolve (default true, as Alertmanager's webhook).
    pub send_resolved: bool,
    /// The body's `externalURL` (Alertmanager's own URL there); default empty.
    pub external_url: String,
    /// Grouping: `group_by`, `group_wait` (30s), `group_interval` (5m), `repeat_interval` (4h).
    pub route: RouteConfig,
    /// Notifications per window (default 30 per 1m).
    pub rate_limit: RateLimit,
    /// Silences from config (the CLI's live in `<data_dir>/silences.json`).
    pub silences: Vec<SilenceConfig>,
    /// Client TLS keys for `https://` URLs.
    pub tls: ClientTlsConfig,
    /// Deadline of one POST (default 10s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The queue the rendered notifications go through (memory, or disk to survive
    /// restarts and outages).
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: Secret::default(),
            max_alerts: 0,
            send_resolved: true,
            external_url: String::new(),
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

impl ComponentConfig for WebhookConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        http_url(self.url.expose()).map_err(|e| ValidationError::at("url", e))?;
        self.route.validate()?;
        validate_silences(&self.silences)?;
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be greater than 0"));
        }
        Ok(())
    }
}
