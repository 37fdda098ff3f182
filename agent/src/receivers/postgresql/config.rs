//! `receivers.postgresql`: named after the OpenTelemetry Collector's postgresql receiver.

use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Endpoint, Secret, ValidationError};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

use crate::receivers::database::{password_or_empty, validate_interval, DEFAULT_INTERVAL};

/// The postgresql receiver: polls `pg_stat_activity`, `pg_stat_database` and
/// `max_connections` of one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresqlConfig {
    /// Server address, `host:port`. Default `localhost:5432`.
    pub endpoint: Endpoint,
    /// Role to log in as. It needs `pg_monitor` (or superuser) to see other roles'
    /// sessions in `pg_stat_activity`. Default `postgres`.
    pub username: String,
    /// Password of `username`; write `${env:POSTGRES_PASSWORD}` rather than the value.
    /// Shown as `[redacted]` by `print-config`. Default empty (trust or peer auth).
    #[serde(deserialize_with = "password_or_empty")]
    pub password: Secret,
    /// Databases to report. Empty (the default) reports every database that is not a
    /// template.
    pub databases: Vec<String>,
    /// Database the receiver connects to for its queries. Default `postgres`.
    pub connect_database: String,
    /// Transport security, with the Collector's keys and default (see
    /// [`ClientTlsConfig`]): TLS is required (`insecure: false`) and the certificate
    /// checked against `ca_file` or the bundled Mozilla roots. `insecure: true` is
    /// plaintext, meant for a server on the same host.
    pub tls: ClientTlsConfig,
    /// How often to poll, e.g. `10s` (the default) or `1m`.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first poll, e.g. `1s` (the Collector's default). Default `0s`:
    /// poll as soon as the agent starts.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
}

impl Default for PostgresqlConfig {
    fn default() -> Self {
        PostgresqlConfig {
            endpoint: Endpoint::new("localhost:5432").expect("valid default endpoint"),
            username: "postgres".to_string(),
            password: Secret::default(),
            databases: Vec::new(),
            connect_database: "postgres".to_string(),
            tls: ClientTlsConfig::default(),
            collection_interval: DEFAULT_INTERVAL,
            initial_delay: Duration::ZERO,
        }
    }
}

impl ComponentConfig for PostgresqlConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_interval(self.collection_interval)?;
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if self.username.is_empty() {
            return Err(ValidationError::at("username", "must not be empty"));
        }
        Ok(())
    }
}
