use std::path::PathBuf;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use serde::{Deserialize, Serialize};

const DAY: u64 = 86_400;

/// `postgres`: writes traces, metrics and logs into typed, daily-partitioned tables with
/// COPY BINARY, exactly once per queue record (see `docs/postgres.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection string, URL (`postgresql://user:pass@host:5432/db`) or key=value form.
    /// Usually `${env:SENTINEL_PG_DSN}`; `print-config` shows it redacted.
    pub dsn: Secret,
    /// `disable`, `prefer` (TLS if the server offers it, unverified), `require` (TLS,
    /// unverified), `verify-ca` (TLS, certificate chain checked) or `verify-full` (chain
    /// and host name checked). Same meaning as libpq's `sslmode`.
    #[serde(default)]
    pub sslmode: SslMode,
    /// PEM file of the CA certificates trusted for `verify-ca` and `verify-full`.
    /// Default: the Mozilla root set.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The schema holding Sentinel's tables and views.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Writer connections, each running one COPY transaction at a time. On a small host,
    /// 1 or 2: the server process of a COPY takes about one core.
    #[serde(default = "default_connections")]
    pub connections: usize,
    #[serde(default)]
    pub batch: BatchConfig,
    /// Run the migrations when the exporter starts (guarded by an advisory lock).
    #[serde(default = "default_true")]
    pub create_schema: bool,
    /// Daily partitions older than this are dropped whole; `0s` keeps everything.
    /// Whole days only.
    #[serde(default = "default_retention", with = "humantime_serde")]
    pub retention: Duration,
    /// Daily partitions created ahead of today.
    #[serde(default = "default_partitions_ahead")]
    pub partitions_ahead: u32,
    /// How often partitions are created ahead and old ones dropped.
    #[serde(default = "default_maintenance_interval", with = "humantime_serde")]
    pub maintenance_interval: Duration,
    /// Longest string or bytes value stored, in bytes; longer ones are cut and the row
    /// gets `"sentinel.truncated": true` in its attributes.
    #[serde(default = "default_max_value_bytes")]
    pub max_value_bytes: usize,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

/// How queue batches are grouped into transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// A writer joins queue batches that are waiting into one transaction up to this many
    /// rows (spans, log records or points). Bigger transactions ingest faster.
    pub max_rows: usize,
    /// How long a writer waits for more batches to join once it has one. `0s` writes
    /// what is there at once.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_rows: 20_000,
            timeout: Duration::from_millis(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

fn default_schema() -> String {
    "sentinel".into()
}
fn default_connections() -> usize {
    1
}
fn default_true() -> bool {
    true
}
fn default_retention() -> Duration {
    Duration::from_secs(7 * DAY)
}
fn default_partitions_ahead() -> u32 {
    3
}
fn default_maintenance_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_value_bytes() -> usize {
    64 * 1024
}

impl PostgresConfig {
    /// Retention in whole days; `None` keeps everything.
    pub fn retention_days(&self) -> Option<u32> {
        let days = self.retention.as_secs() / DAY;
        (days > 0).then(|| days.min(u32::MAX as u64) as u32)
    }
}

/// A plain, unquoted SQL identifier, so that it can be spliced into DDL safely.
pub fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 48
}

impl ComponentConfig for PostgresConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.dsn.expose().trim().is_empty() {
            return Err(ValidationError::new(
                "`dsn` must not be empty (is SENTINEL_PG_DSN set?)",
            ));
        }
        if let Err(e) = self.dsn.expose().parse::<tokio_postgres::Config>() {
            // The error text never includes the password.
            return Err(ValidationError::new(format!(
                "`dsn` is not a valid connection string: {e}"
            )));
        }
        if !valid_identifier(&self.schema) {
            return Err(ValidationError::new(format!(
                "`schema` {:?} must be a lowercase SQL identifier (a-z, 0-9, _; at most 48 characters)",
                self.schema
            )));
        }
        if !(1..=16).contains(&self.connections) {
            return Err(ValidationError::new("`connections` must be from 1 to 16"));
        }
        if self.batch.max_rows == 0 {
            return Err(ValidationError::new(
                "`batch.max_rows` must be greater than 0",
            ));
        }
        let secs = self.retention.as_secs();
        if secs / DAY * DAY != secs {
            return Err(ValidationError::new(
                "`retention` must be whole days, such as 7d, or 0s to keep everything",
            ));
        }
        if !(1..=60).contains(&self.partitions_ahead) {
            return Err(ValidationError::new(
                "`partitions_ahead` must be from 1 to 60",
            ));
        }
        if self.maintenance_interval.is_zero() {
            return Err(ValidationError::new(
                "`maintenance_interval` must be greater than 0",
            ));
        }
        if self.max_value_bytes < 16 {
            return Err(ValidationError::new(
                "`max_value_bytes` must be at least 16",
            ));
        }
        if self.ca_file.is_some() && self.sslmode == SslMode::Disable {
            return Err(ValidationError::new(
                "`ca_file` needs an `sslmode` other than disable",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: serde_json::Value) -> Result<PostgresConfig, String> {
        let mut value = json!({"dsn": "postgresql://u:pw@127.0.0.1:5432/db"});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let config: PostgresConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn defaults_are_the_documented_ones_and_the_dsn_is_redacted() {
        let c = config(json!({})).unwrap();
        assert_eq!(c.schema, "sentinel");
        assert_eq!(c.sslmode, SslMode::Prefer);
        assert_eq!(c.connections, 1);
        assert!(c.create_schema);
        assert_eq!(c.retention_days(), Some(7));
        assert_eq!(c.max_value_bytes, 65536);
        let shown = serde_json::to_string(&c).unwrap();
        assert!(!shown.contains("pw@"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn bad_values_are_explained() {
        let err = |extra| config(extra).unwrap_err();
        assert!(err(json!({"schema": "Robert'); DROP"})).contains("schema"));
        assert!(err(json!({"retention": "36h"})).contains("whole days"));
        assert!(err(json!({"connections": 0})).contains("connections"));
        assert!(err(json!({"dsn": ""})).contains("dsn"));
        assert!(err(json!({"dsn": "postgresql://host:notaport/db"})).contains("dsn"));
        assert!(err(json!({"sslmode": "allow"})).contains("unknown variant"));
        assert!(err(json!({"ca_file": "/x.pem", "sslmode": "disable"})).contains("ca_file"));
        assert!(err(json!({"nope": 1})).contains("unknown field"));
        assert_eq!(
            config(json!({"retention": "0s"})).unwrap().retention_days(),
            None
        );
        assert_eq!(
            config(json!({"sslmode": "verify-full"})).unwrap().sslmode,
            SslMode::VerifyFull
        );
    }
}
