//! `receivers.pgbouncer`: the same keys as the postgresql receiver.

use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Endpoint, Secret, ValidationError};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::receivers::database::{password_or_empty, validate_interval, DEFAULT_INTERVAL};

/// The pgbouncer receiver: reads `SHOW POOLS`, `SHOW STATS` and `SHOW DATABASES` from
/// PgBouncer's admin console (the virtual database `pgbouncer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgbouncerConfig {
    /// PgBouncer's listen address, `host:port`. Default `localhost:6432`.
    pub endpoint: Endpoint,
    /// A user listed in PgBouncer's `stats_users` or `admin_users`. Default `pgbouncer`.
    pub username: String,
    /// Password of `username`; write `${env:PGBOUNCER_PASSWORD}` rather than the value.
    /// Shown as `[redacted]` by `print-config`. Default empty.
    #[serde(deserialize_with = "password_or_empty")]
    pub password: Secret,
    /// PgBouncer databases (pools) to report. Empty (the default) reports all, including
    /// the admin console's own `pgbouncer` pool.
    pub databases: Vec<String>,
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

impl Default for PgbouncerConfig {
    fn default() -> Self {
        PgbouncerConfig {
            endpoint: Endpoint::new("localhost:6432").expect("valid default endpoint"),
            username: "pgbouncer".to_string(),
            password: Secret::default(),
            databases: Vec::new(),
            tls: ClientTlsConfig::default(),
            collection_interval: DEFAULT_INTERVAL,
            initial_delay: Duration::ZERO,
        }
    }
}

impl ComponentConfig for PgbouncerConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_interval(self.collection_interval)?;
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if self.username.is_empty() {
            return Err(ValidationError::at("username", "must not be empty"));
        }
        Ok(())
    }
}
