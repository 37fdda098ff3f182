use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

/// `batch`: merges requests into larger ones before they reach the exporters. Clients
/// are acknowledged only once their batch is accepted by every exporter queue, so a
/// crash never loses data the agent already acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, metric data points, log records) that trigger sending a batch.
    pub send_batch_size: usize,
    /// Upper bound on a batch's items; larger batches are split. `0` means no bound.
    /// Metrics are split at metric granularity, so one metric's points stay together.
    pub send_batch_max_size: usize,
    /// How long the first item of a batch may wait before the batch is sent anyway.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            timeout: Duration::from_millis(200),
        }
    }
}

impl ComponentConfig for BatchConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.send_batch_size == 0 {
            return Err(ValidationError::new(
                "send_batch_size must be greater than 0",
            ));
        }
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(ValidationError::new(format!(
                "send_batch_max_size ({}) must be 0 or at least send_batch_size ({})",
                self.send_batch_max_size, self.send_batch_size
            )));
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::new("timeout must be greater than 0"));
        }
        Ok(())
    }
}
