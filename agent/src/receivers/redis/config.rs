//! `receivers.redis`: named after the OpenTelemetry Collector's redis receiver.

use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Endpoint, Secret, ValidationError};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::receivers::database::{password_or_empty, validate_interval, DEFAULT_INTERVAL};

/// The redis receiver: reads `INFO` and `CONFIG GET maxclients` of one Redis server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Server address, `host:port`. Default `localhost:6379`.
    pub endpoint: Endpoint,
    /// ACL user (Redis 6+). Empty (the default) authenticates with `password` alone, as
    /// `requirepass` expects.
    pub username: String,
    /// Password; write `${env:REDIS_PASSWORD}` rather than the value. Shown as
    /// `[redacted]` by `print-config`. Empty (the default) sends no `AUTH`.
    #[serde(deserialize_with = "password_or_empty")]
    pub password: Secret,
    /// Transport security, with the Collector's keys and default (see
    /// [`ClientTlsConfig`]): TLS is required (`insecure: false`) and the server's
    /// certificate checked. `insecure: true` is plaintext, meant for a server on the
    /// same host.
    pub tls: ClientTlsConfig,
    /// How often to poll, e.g. `10s` (the default).
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first poll, e.g. `1s` (the Collector's default). Default `0s`:
    /// poll as soon as the agent starts.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            endpoint: Endpoint::new("localhost:6379").expect("valid default endpoint"),
            username: String::new(),
            password: Secret::default(),
            tls: ClientTlsConfig::default(),
            collection_interval: DEFAULT_INTERVAL,
            initial_delay: Duration::ZERO,
        }
    }
}

impl ComponentConfig for RedisConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_interval(self.collection_interval)?;
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if !self.username.is_empty() && self.password.expose().is_empty() {
            return Err(ValidationError::at(
                "username",
                "an ACL user needs a password as well",
            ));
        }
        Ok(())
    }
}
