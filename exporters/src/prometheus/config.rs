use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Endpoint, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use serde::{Deserialize, Serialize};

/// `prometheus`: serves the metrics pipeline in the Prometheus text format for scraping.
/// Delta sums and histograms are accumulated into cumulative series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Listen address of the scrape endpoint (`GET /metrics`).
    pub endpoint: Endpoint,
    /// Prefix added to every metric name (`<namespace>_<name>`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels added to every series.
    #[serde(default)]
    pub const_labels: BTreeMap<String, String>,
    /// Series not updated for this long are removed.
    #[serde(default = "default_expiration", with = "humantime_serde")]
    pub metric_expiration: Duration,
    #[serde(default)]
    pub resource_to_telemetry_conversion: ResourceConversion,
    /// Most series held; data for new series beyond it is dropped and counted.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

/// `resource_to_telemetry_conversion.enabled`: turn resource attributes into labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConversion {
    pub enabled: bool,
}

fn default_expiration() -> Duration {
    Duration::from_secs(300)
}

fn default_max_series() -> usize {
    10_000
}

impl ComponentConfig for PrometheusConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.metric_expiration.is_zero() {
            return Err(ValidationError::new(
                "metric_expiration must be greater than 0",
            ));
        }
        if self.max_series == 0 {
            return Err(ValidationError::new("max_series must be greater than 0"));
        }
        Ok(())
    }
}
