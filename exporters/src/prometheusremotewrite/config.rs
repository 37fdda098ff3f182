use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Secret, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Serialize};

/// `prometheusremotewrite`: sends metrics to a Prometheus Remote-Write 1.0 endpoint
/// (Prometheus, Mimir, Cortex, Thanos, VictoriaMetrics) as snappy-compressed protobuf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The remote-write URL, e.g. `https://mimir:9009/api/v1/push`. Required.
    pub endpoint: String,
    /// Extra HTTP headers (e.g. `X-Scope-OrgID`, `Authorization`); secrets, redacted by
    /// `print-config`. `Content-Encoding`, `Content-Type`, `X-Prometheus-Remote-Write-Version`
    /// and `User-Agent` cannot be changed.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Deadline of one request. Default 5s.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The Collector's client TLS keys, used for `https://` endpoints.
    #[serde(default)]
    pub tls: ClientTlsConfig,
    /// Prefix of every metric name (`<namespace>_<name>`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels added to every series (a series' own label of the same name wins).
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Unit and type suffixes on names (`_seconds`, `_bytes`, `_ratio`, `_total`), as the
    /// Collector's `add_metric_suffixes`. Default true. When false, the unit suffixes are left
    /// out; `_total` stays on counters.
    #[serde(default = "yes")]
    pub add_metric_suffixes: bool,
    #[serde(default)]
    pub resource_to_telemetry_conversion: ResourceConversion,
    #[serde(default)]
    pub target_info: TargetInfo,
    /// Most series whose running values are kept (delta sums and histograms are accumulated
    /// to cumulative per series); points of new series past it are dropped and counted.
    /// Default 100000. A Sentinel addition.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// Series not updated for this long are forgotten (a later delta point starts again
    /// from zero). Default 5m. A Sentinel addition, named like the `prometheus` exporter's.
    #[serde(default = "default_expiration", with = "humantime_serde")]
    pub metric_expiration: Duration,
    /// The queue in front of the store. `num_consumers` is always 1: stores refuse a
    /// series' samples out of time order, and records are folded and sent in queue order
    /// (each request still merges consecutive records).
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

/// `resource_to_telemetry_conversion`: every resource attribute as a label on every series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConversion {
    /// Default false (resource attributes go to `target_info`).
    #[serde(default)]
    pub enabled: bool,
}

/// `target_info`: one series per resource holding its attributes as labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for TargetInfo {
    fn default() -> Self {
        TargetInfo { enabled: true }
    }
}

fn yes() -> bool {
    true
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_series() -> usize {
    100_000
}

fn default_expiration() -> Duration {
    Duration::from_secs(300)
}

/// Headers the exporter sets itself.
pub const RESERVED_HEADERS: [&str; 4] = [
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
];

impl ComponentConfig for RemoteWriteConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        let uri: hyper::Uri = self
            .endpoint
            .parse()
            .map_err(|e| ValidationError::at("endpoint", format!("not a URL: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http") | Some("https")) || uri.host().is_none() {
            return Err(ValidationError::at(
                "endpoint",
                "expected an http:// or https:// URL",
            ));
        }
        for key in self.headers.keys() {
            if RESERVED_HEADERS.contains(&key.to_ascii_lowercase().as_str()) {
                return Err(ValidationError::at(
                    format!("headers.{key}"),
                    "this header is set by the exporter",
                ));
            }
            if hyper::header::HeaderName::from_bytes(key.as_bytes()).is_err() {
                return Err(ValidationError::at(
                    format!("headers.{key}"),
                    "not a valid header name",
                ));
            }
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be greater than 0"));
        }
        if self.max_series == 0 {
            return Err(ValidationError::at("max_series", "must be at least 1"));
        }
        self.tls.validate().map_err(|e| e.within("tls"))
    }
}
