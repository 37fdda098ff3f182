//! `sending_queue` and `retry_on_failure`: the options every exporter shares.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `sending_queue`: the bounded queue in front of an exporter. A slow or dead sink only
/// fills its own queue; other exporters of the same pipeline keep receiving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// `memory` (lost on crash) or `disk` (durable, see `fsync`).
    #[serde(rename = "type")]
    pub kind: QueueKind,
    /// Memory queue: most requests held before refusing.
    pub queue_size: usize,
    /// Requests sent to the sink at once.
    pub num_consumers: usize,
    /// `refuse` (clients get RESOURCE_EXHAUSTED / 429 and retry) or `drop_oldest` (counted).
    pub when_full: WhenFull,
    /// Disk queue: where segment files live. Default: `<data dir>/queues/<exporter id>`.
    pub directory: Option<PathBuf>,
    /// Budget in bytes: all segment files of a disk queue (default 256 MiB), or the
    /// memory the decoded requests of a memory queue take, heap included (default 16
    /// MiB, about 4 MiB of OTLP protobuf or 40,000 small spans), so the queue's RSS
    /// follows it. `when_full` applies when it is reached. The memory default is small on
    /// purpose: a full queue that fits the CPU caches drains much faster under overload
    /// (docs/performance.md); ride out sink outages with a disk queue.
    pub max_size: Option<u64>,
    /// Disk queue: `always`, `never`, or `{interval: 10ms}` (group commit).
    pub fsync: FsyncPolicy,
    /// The dead-letter file (data the sink will never take): its size cap and rotation.
    pub dead_letter: DeadLetterSettings,
}

/// `sending_queue.dead_letter`: the dead-letter file is rotated like the file exporter's
/// output: `dead-letter.jsonl` is the current file, `.1` (newest) to `.<max_backups>`
/// (oldest) the rotated ones. The oldest is deleted when another rotation needs its
/// place; its requests are counted in `sentinel_queue_dead_letters_dropped_total` and the
/// first such loss is logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadLetterSettings {
    /// Rotate once the current file would grow past this many MiB (default 64). A request
    /// larger than this is not written at all (counted as dropped).
    pub max_megabytes: u64,
    /// Rotated files to keep (default 1); 0 starts the file over when it is full.
    pub max_backups: usize,
}

impl Default for DeadLetterSettings {
    fn default() -> Self {
        DeadLetterSettings {
            max_megabytes: 64,
            max_backups: 1,
        }
    }
}

impl DeadLetterSettings {
    /// The cap of one file in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_megabytes.saturating_mul(1 << 20)
    }
}

impl QueueSettings {
    /// `max_size`, or the default for the queue's type.
    pub fn budget_bytes(&self) -> u64 {
        self.max_size.unwrap_or(match self.kind {
            QueueKind::Disk => 256 * 1024 * 1024,
            QueueKind::Memory => 16 * 1024 * 1024,
        })
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            kind: QueueKind::Memory,
            queue_size: 1000,
            num_consumers: 4,
            when_full: WhenFull::Refuse,
            directory: None,
            max_size: None,
            fsync: FsyncPolicy::Interval(Duration::from_millis(10)),
            dead_letter: DeadLetterSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    Memory,
    Disk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    Refuse,
    DropOldest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// fsync after every append, before acknowledging.
    Always,
    /// Never fsync: a crash of the machine (not just the agent) can lose acknowledged data.
    Never,
    /// Group commit: acknowledge after the fsync that covers the record.
    Interval(#[serde(with = "humantime_serde")] Duration),
}

/// `retry_on_failure`: exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    pub multiplier: f64,
    /// `0s` (the default) retries until the queue's budget forces a decision.
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            multiplier: 1.5,
            max_elapsed_time: Duration::ZERO,
        }
    }
}
