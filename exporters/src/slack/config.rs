use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::notify::http::http_url;
use crate::notify::settings::{validate_silences, RateLimit, RouteConfig, SilenceConfig};

/// `slack`: an incoming-webhook message per notification (Block Kit plus a `text`
/// fallback, an attachment coloured by severity, the `remediation` steps), with
/// Alertmanager's `slack_config` key names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// The incoming-webhook URL (`https://hooks.slack.com/services/...`). Redacted by
    /// `print-config`: it is the credential.
    pub api_url: Secret,
    /// Channel override (`#ops`); default: the webhook's own channel.
    pub channel: Option<String>,
    /// Sender name override.
    pub username: Option<String>,
    /// Sender icon override (`:rotating_light:`).
    pub icon_emoji: Option<String>,
    /// Notify when a group's alerts resolve (default false, as Alertmanager's Slack).
    pub send_resolved: bool,
    /// Grouping: `group_by`, `group_wait` (30s), `group_interval` (5m), `repeat_interval` (4h).
    pub route: RouteConfig,
    /// Notifications per window (default 30 per 1m; Slack allows about 1 per second).
    pub rate_limit: RateLimit,
    /// Silences from config (the CLI's live in `<data_dir>/silences.json`).
    pub silences: Vec<SilenceConfig>,
    /// Client TLS keys for the `https://` URL.
    pub tls: ClientTlsConfig,
    /// Deadline of one POST (default 10s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The queue the rendered messages go through; a 429 waits its `Retry-After`.
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            api_url: Secret::default(),
            channel: None,
            username: None,
            icon_emoji: None,
            send_resolved: false,
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

impl ComponentConfig for SlackConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        http_url(self.api_url.expose()).map_err(|e| ValidationError::at("api_url", e))?;
        self.route.validate()?;
        validate_silences(&self.silences)?;
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be greater than 0"));
        }
        Ok(())
    }
}
