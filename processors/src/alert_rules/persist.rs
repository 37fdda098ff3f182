//! The `for` state file, the counterpart of Prometheus's `ALERTS_FOR_STATE` series: for
//! every pending or firing alert, when it became active; and when the file was written
//! (the last moment the previous run was known up). Written atomically (a temporary file
//! renamed over it) after evaluations; read once at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::alerting::Restore;
use super::engine::Labels;

#[derive(Debug, thiserror::Error)]
pub enum ForStateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// One active alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForEntry {
    /// The group's key (`file;name`).
    pub group: String,
    pub rule: String,
    pub labels: Labels,
    pub active_at_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForState {
    pub saved_at_ms: i64,
    pub alerts: Vec<ForEntry>,
}

/// The state file of connector `id` under `data_dir`.
pub fn state_path(data_dir: &Path, id: &str) -> PathBuf {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir
        .join("alert_rules")
        .join(name)
        .join("for_state.json")
}

impl ForState {
    /// The saved state; empty when there is no file yet.
    pub fn load(path: &Path) -> Result<ForState, ForStateError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ForStateError::Format {
                path: path.to_path_buf(),
                source,
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ForState::default()),
            Err(source) => Err(ForStateError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), ForStateError> {
        let io = |source| ForStateError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            sentinel_pipeline::private_fs::create_private_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(self).map_err(|source| ForStateError::Format {
            path: path.to_path_buf(),
            source,
        })?;
        {
            use std::io::Write;
            sentinel_pipeline::private_fs::create_private_file(&tmp)
                .and_then(|mut file| file.write_all(&bytes))
                .map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// What to restore for the group `key`, per rule name.
    pub fn restore_for(
        &self,
        key: &str,
        grace_ms: i64,
        outage_tolerance_ms: i64,
    ) -> BTreeMap<String, Restore> {
        let mut out: BTreeMap<String, Restore> = BTreeMap::new();
        for entry in self.alerts.iter().filter(|e| e.group == key) {
            let restore = out.entry(entry.rule.clone()).or_insert_with(|| Restore {
                active_at: BTreeMap::new(),
                down_at: self.saved_at_ms,
                grace_ms,
                outage_tolerance_ms,
            });
            restore
                .active_at
                .insert(entry.labels.clone(), entry.active_at_ms);
        }
        out
    }
}
