use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Endpoint, ValidationError};
use sentinel_pipeline::listen::{
    check_listener, ConnectionLimits, ServerAuthConfig, ServerTlsConfig,
};
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
    /// Server TLS of the scrape endpoint (`cert_file`, `key_file`, `client_ca_file`,
    /// `min_version`, `reload_interval`), as the Collector's. Default: plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsConfig>,
    /// Bearer token scrapers must send (Prometheus `authorization: {credentials_file}`);
    /// without it a scrape is answered `401`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ServerAuthConfig>,
    /// Connection cap and idle, header and body-read timeouts.
    #[serde(default)]
    pub connections: ConnectionLimits,
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
        check_listener(&self.tls, &self.auth, &self.connections)
    }
}
