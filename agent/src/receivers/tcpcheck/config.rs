//! `receivers.tcpcheck`: named after the OpenTelemetry Collector's tcpcheck receiver.

use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Endpoint, ValidationError};
use serde::{Deserialize, Serialize};

use crate::receivers::database::validate_interval;

/// The tcpcheck receiver: connects to each target every `collection_interval` and
/// reports whether the connection opened and how long it took.
///
/// ```yaml
/// tcpcheck:
///   collection_interval: 30s
///   targets:
///     - endpoint: db.internal:5432
///     - endpoint: 127.0.0.1:6379
///       timeout: 2s
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpCheckConfig {
    /// The endpoints to connect to. Required: at least one.
    pub targets: Vec<TcpTarget>,
    /// How often to probe, e.g. `30s`. Default `60s`, as in the Collector.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first probe. Default `1s`, as in the Collector.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
}

/// One endpoint to probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpTarget {
    /// `host:port` to connect to. Required. A host name is resolved on every probe and
    /// each of its addresses is tried in turn.
    pub endpoint: Endpoint,
    /// How long the probe (name lookup and connect) may take before it counts as
    /// `connection_timeout`. Default `10s`.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for TcpCheckConfig {
    fn default() -> Self {
        TcpCheckConfig {
            targets: Vec::new(),
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
        }
    }
}

impl ComponentConfig for TcpCheckConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_interval(self.collection_interval)?;
        if self.targets.is_empty() {
            return Err(ValidationError::at(
                "targets",
                "list at least one target (`- endpoint: host:port`)",
            ));
        }
        for (i, target) in self.targets.iter().enumerate() {
            if target.timeout.is_zero() {
                return Err(ValidationError::at(
                    format!("targets.{i}.timeout"),
                    "must be more than 0s",
                ));
            }
        }
        Ok(())
    }
}
