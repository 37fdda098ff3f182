use std::path::PathBuf;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::notify::settings::{validate_silences, RateLimit, RouteConfig, SilenceConfig};

/// `email`: one message per notification over SMTP (STARTTLS, AUTH), with plain-text and
/// HTML bodies; Alertmanager's `email_config` key names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Recipients, comma-separated.
    pub to: String,
    /// The sender address.
    pub from: String,
    /// The SMTP server, `host:port`. Port 465 means TLS from the first byte; any other
    /// port speaks plain SMTP and upgrades with STARTTLS.
    pub smarthost: String,
    /// The name sent in EHLO (default `localhost`).
    pub hello: String,
    /// AUTH user name; no AUTH when empty.
    pub auth_username: String,
    /// AUTH password (redacted by `print-config`).
    pub auth_password: Secret,
    /// A file holding the AUTH password instead (read at start).
    pub auth_password_file: Option<PathBuf>,
    /// Refuse to send unless STARTTLS succeeds (default true, as Alertmanager).
    pub require_tls: bool,
    /// TLS settings: `ca_file`, `insecure_skip_verify`, `server_name_override`.
    pub tls: ClientTlsConfig,
    /// Notify when a group's alerts resolve (default false, as Alertmanager's email).
    pub send_resolved: bool,
    /// Grouping: `group_by`, `group_wait` (30s), `group_interval` (5m), `repeat_interval` (4h).
    pub route: RouteConfig,
    /// Messages per window (default 30 per 1m).
    pub rate_limit: RateLimit,
    /// Silences from config (the CLI's live in `<data_dir>/silences.json`).
    pub silences: Vec<SilenceConfig>,
    /// Deadline of one SMTP exchange (default 30s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The queue the rendered messages go through.
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            to: String::new(),
            from: String::new(),
            smarthost: String::new(),
            hello: "localhost".into(),
            auth_username: String::new(),
            auth_password: Secret::default(),
            auth_password_file: None,
            require_tls: true,
            tls: ClientTlsConfig::default(),
            send_resolved: false,
            route: RouteConfig::default(),
            rate_limit: RateLimit::default(),
            silences: Vec::new(),
            timeout: Duration::from_secs(30),
            sending_queue: QueueSettings::default(),
            retry_on_failure: RetrySettings::default(),
        }
    }
}

impl EmailConfig {
    /// `smarthost` split into host and port.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let (host, port) = self.smarthost.rsplit_once(':')?;
        Some((
            host.trim_matches(['[', ']']).to_string(),
            port.parse().ok()?,
        ))
    }
}

impl ComponentConfig for EmailConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.host_port().is_none() {
            return Err(ValidationError::at("smarthost", "expected host:port"));
        }
        for (key, value) in [("to", &self.to), ("from", &self.from)] {
            for address in value.split(',') {
                address
                    .trim()
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|e| ValidationError::at(key, format!("{address:?}: {e}")))?;
            }
        }
        if !self.auth_password.expose().is_empty() && self.auth_password_file.is_some() {
            return Err(ValidationError::at(
                "auth_password_file",
                "set auth_password or auth_password_file, not both",
            ));
        }
        self.route.validate()?;
        validate_silences(&self.silences)?;
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be greater than 0"));
        }
        Ok(())
    }
}
