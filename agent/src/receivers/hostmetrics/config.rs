//! `receivers.hostmetrics`: the user-facing configuration, keyed like the OpenTelemetry
//! Collector's hostmetrics receiver so existing configs keep working.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::disk::DiskConfig;
use super::filesystem::FilesystemConfig;
use super::network::NetworkConfig;
use super::process::ProcessConfig;
use super::switches::MetricsOnly;

/// The hostmetrics receiver: host (or, with `root_path`, the mounted host's) CPU, memory,
/// disk, filesystem, network, load, paging, process-count, uptime and per-process metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostMetricsConfig {
    /// How often to scrape. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first scrape, e.g. `1s` (the Collector's default). Default `0s`:
    /// scrape as soon as the agent starts.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Where the host's `/` is mounted when the agent runs in a container, e.g. `/hostfs`.
    /// `/proc`, `/sys`, `/etc/passwd` and mount points are read under it. Default `/`.
    pub root_path: String,
    /// The scrapers to run; each key present (even empty) enables that scraper.
    pub scrapers: Scrapers,
}

impl Default for HostMetricsConfig {
    fn default() -> Self {
        HostMetricsConfig {
            collection_interval: Duration::from_secs(10),
            initial_delay: Duration::ZERO,
            root_path: "/".into(),
            scrapers: Scrapers::default(),
        }
    }
}

/// `scrapers`: `cpu`, `memory`, `disk`, `filesystem`, `network`, `load`, `paging`,
/// `processes`, `system`, `process`, and `container` (the agent's own cgroup v2 figures).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrapers {
    /// `system.cpu.time`, `system.cpu.utilization`, CPU counts and frequency.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<MetricsOnly>,
    /// `system.memory.usage` by `system.memory.state`, utilization, limit.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<MetricsOnly>,
    /// `system.disk.*` per block device (partitions and virtual devices included).
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub disk: Option<DiskConfig>,
    /// `system.filesystem.*` per mounted filesystem (from `statvfs`).
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub filesystem: Option<FilesystemConfig>,
    /// `system.network.*` per interface, and TCP connections by state.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub network: Option<NetworkConfig>,
    /// `system.cpu.load_average.{1m,5m,15m}`.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub load: Option<MetricsOnly>,
    /// `system.paging.*`: swap usage, page-in/out, faults.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub paging: Option<MetricsOnly>,
    /// `system.processes.{count,created}`.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub processes: Option<MetricsOnly>,
    /// `system.uptime`.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub system: Option<MetricsOnly>,
    /// Per-process metrics, one resource per process.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub process: Option<ProcessConfig>,
    /// The agent's own cgroup v2 limits and usage: `container.cpu.time`,
    /// `container.cpu.limit`, `container.memory.usage`, `container.memory.limit`.
    #[serde(
        default,
        deserialize_with = "listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub container: Option<MetricsOnly>,
}

/// A scraper key written with nothing under it (`cpu:`) enables it with defaults.
fn listed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}
