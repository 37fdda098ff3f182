use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

/// `dedup`: drops exact duplicate spans and metric data points, and aggregates duplicate
/// log records (the Collector's `logdedup` keys and output). The natural partner of
/// at-least-once delivery: put it in front of an exporter to absorb the replays of an
/// upstream disk queue or of retrying clients.
///
/// ```yaml
/// dedup:
///   window: 10m                  # spans and points: how long an identity is remembered
///   max_memory_mib: 32           # the seen-set's fixed size, per pipeline
///   false_positive_rate: 1e-6    # chance that a unique span or point is taken for a duplicate
///   interval: 10s                # logs: how long duplicates are gathered into one record
///   log_count_attribute: log_count
///   exclude_fields: [attributes.request.id]
///   max_pending_logs: 10000
/// ```
///
/// Identities: a span is its trace ID, span ID and start time; a data point is its series
/// (resource attributes, scope name and version, metric name and type, point attributes),
/// its timestamps and its value; a log record is its body, severity, attributes, resource
/// attributes and scope, minus `exclude_fields`.
///
/// Spans and points are remembered in a seen-set of two bloom-filter generations sized
/// from `max_memory_mib`: an identity is remembered for at least `window` (at most twice
/// that), or for fewer items when a generation fills up first (the generation then
/// rotates early and `sentinel_dedup_early_rotations_total` counts it). A false positive
/// drops a unique item; it cannot be told apart from a duplicate, so both are counted as
/// dropped with reason `duplicate`. The bound holds at every fill level, since a
/// generation rotates before it holds more keys than it was sized for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// Spans and data points: the shortest time an identity is remembered (default `10m`).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Spans and data points: the seen-set's size in MiB, allocated once per pipeline
    /// (default `32`, about 4.4 million identities per window at the default rate).
    pub max_memory_mib: u64,
    /// Spans and data points: the highest probability that a unique item is taken for a
    /// duplicate and dropped (default `1e-6`); lower costs memory per identity.
    pub false_positive_rate: f64,
    /// Logs: duplicates seen within this time are emitted as one record when it ends
    /// (default `10s`, the Collector's). Clients are answered when that record is handed
    /// on, so keep it below their export timeout.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Logs: the attribute holding how many records an emitted record stands for
    /// (default `log_count`).
    pub log_count_attribute: String,
    /// Logs: fields left out of the identity and removed from the emitted record:
    /// `body` (the whole body), `body.<key>` (a key of a map body) or `attributes.<key>`
    /// (the key is taken whole, dots included: `attributes.http.method` is the attribute
    /// `http.method`). Default: none.
    pub exclude_fields: Vec<String>,
    /// Logs: the most distinct records gathered at once (default `10000`); one more
    /// emits everything gathered early, counted in `sentinel_dedup_early_emits_total`.
    pub max_pending_logs: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window: Duration::from_secs(600),
            max_memory_mib: 32,
            false_positive_rate: 1e-6,
            interval: Duration::from_secs(10),
            log_count_attribute: "log_count".to_string(),
            exclude_fields: Vec::new(),
            max_pending_logs: 10_000,
        }
    }
}

impl ComponentConfig for DedupConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.window.is_zero() {
            return Err(ValidationError::at("window", "must be greater than 0"));
        }
        if self.interval.is_zero() {
            return Err(ValidationError::at("interval", "must be greater than 0"));
        }
        if self.max_memory_mib == 0 || self.max_memory_mib > 64 * 1024 {
            return Err(ValidationError::at(
                "max_memory_mib",
                "must be between 1 and 65536",
            ));
        }
        let rate = self.false_positive_rate;
        if !(rate > 0.0 && rate < 0.5) {
            return Err(ValidationError::at(
                "false_positive_rate",
                "must be greater than 0 and less than 0.5",
            ));
        }
        if self.log_count_attribute.is_empty() {
            return Err(ValidationError::at(
                "log_count_attribute",
                "must not be empty",
            ));
        }
        if self.max_pending_logs == 0 {
            return Err(ValidationError::at(
                "max_pending_logs",
                "must be greater than 0",
            ));
        }
        for (index, field) in self.exclude_fields.iter().enumerate() {
            let valid = field == "body"
                || field.strip_prefix("body.").is_some_and(|k| !k.is_empty())
                || field
                    .strip_prefix("attributes.")
                    .is_some_and(|k| !k.is_empty());
            if !valid {
                return Err(ValidationError::at(
                    format!("exclude_fields.{index}"),
                    format!("`{field}`: expected `body`, `body.<key>` or `attributes.<key>`"),
                ));
            }
        }
        Ok(())
    }
}
