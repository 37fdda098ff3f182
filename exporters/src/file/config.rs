use std::path::PathBuf;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use serde::{Deserialize, Serialize};

/// `file`: writes one OTLP/JSON export request per line, the format of the Collector's
/// file exporter. Each export is written and flushed before it counts as delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to append to; parent directories are created.
    pub path: PathBuf,
    /// Rotation by size. The current file is `path`; older ones are `path.1` (newest) to
    /// `path.<max_backups>` (oldest); older still are deleted.
    #[serde(default)]
    pub rotation: RotationConfig,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    /// Rotate once the current file would grow past this many MiB.
    pub max_megabytes: u64,
    /// Rotated files to keep.
    pub max_backups: usize,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            max_megabytes: 100,
            max_backups: 100,
        }
    }
}

impl ComponentConfig for FileConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.path.as_os_str().is_empty() {
            return Err(ValidationError::new("`path` must not be empty"));
        }
        if self.rotation.max_megabytes == 0 {
            return Err(ValidationError::new(
                "rotation.max_megabytes must be greater than 0",
            ));
        }
        Ok(())
    }
}
