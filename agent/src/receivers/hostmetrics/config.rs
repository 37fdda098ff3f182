//! `receivers.hostmetrics`: the user-facing configuration, keyed like the OpenTelemetry
//! Collector's hostmetrics receiver so existing configs keep working.

use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{unknown_key_message, ComponentConfig};
use serde::{Deserialize, Deserializer, Serialize};

use super::process::ProcessConfig;

/// The hostmetrics receiver: host (or, with `root_path`, the mounted host's) CPU, memory,
/// disk, filesystem, network, load, paging, process-count, uptime and per-process metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostMetricsConfig {
    /// How often to scrape. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
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
    pub disk: Option<MetricsOnly>,
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
    pub network: Option<MetricsOnly>,
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

/// A scraper whose only option is the metric switches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsOnly {
    /// Switch single metrics on or off: `metrics: { system.cpu.utilization: { enabled: true } }`.
    /// Metrics not listed keep their default (the Collector's).
    pub metrics: MetricSwitches,
}

/// `scrapers.filesystem`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// Switch single metrics on or off (see `MetricsOnly`).
    pub metrics: MetricSwitches,
    /// Also report pseudo filesystems (proc, sysfs, cgroup, tmpfs, overlay...). Default false.
    pub include_virtual_filesystems: bool,
    /// Filesystem types never reported, e.g. `[nfs, fuse.sshfs]`.
    pub exclude_fs_types: Vec<String>,
    /// Mount points never reported (exact paths as the host sees them).
    pub exclude_mount_points: Vec<String>,
}

/// `metrics:` — metric name → `{ enabled: bool }`.
pub type MetricSwitches = BTreeMap<String, MetricSwitch>;

/// One metric's switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSwitch {
    /// Whether the metric is emitted.
    pub enabled: bool,
}

/// The metrics a scraper may emit, with whether each is on by default.
pub type MetricCatalog = &'static [(&'static str, bool)];

/// The metrics switched on, resolved once at build time.
#[derive(Debug, Clone, Default)]
pub struct Enabled(Vec<&'static str>);

impl Enabled {
    pub fn resolve(catalog: MetricCatalog, switches: &MetricSwitches) -> Enabled {
        Enabled(
            catalog
                .iter()
                .filter(|(name, default)| switches.get(*name).map_or(*default, |s| s.enabled))
                .map(|(name, _)| *name)
                .collect(),
        )
    }

    pub fn on(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
}

fn check_switches(
    scraper: &str,
    catalog: MetricCatalog,
    switches: &MetricSwitches,
) -> Result<(), String> {
    let valid: Vec<&str> = catalog.iter().map(|(name, _)| *name).collect();
    match switches.keys().find(|key| !valid.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "scrapers.{scraper}.metrics: {}",
            unknown_key_message(key, &valid)
        )),
        None => Ok(()),
    }
}

impl ComponentConfig for HostMetricsConfig {
    fn validate(&self) -> Result<(), String> {
        use super::{
            container, cpu, disk, filesystem, load, memory, network, paging, processes, system,
        };
        if self.collection_interval < Duration::from_secs(1) {
            return Err("collection_interval must be at least 1s".into());
        }
        if !self.root_path.starts_with('/') {
            return Err(format!(
                "root_path must be an absolute path, got {:?}",
                self.root_path
            ));
        }
        let s = &self.scrapers;
        let simple = [
            ("cpu", cpu::METRICS, &s.cpu),
            ("memory", memory::METRICS, &s.memory),
            ("disk", disk::METRICS, &s.disk),
            ("network", network::METRICS, &s.network),
            ("load", load::METRICS, &s.load),
            ("paging", paging::METRICS, &s.paging),
            ("processes", processes::METRICS, &s.processes),
            ("system", system::METRICS, &s.system),
            ("container", container::METRICS, &s.container),
        ];
        for (name, catalog, config) in simple {
            if let Some(config) = config {
                check_switches(name, catalog, &config.metrics)?;
            }
        }
        if let Some(fs) = &s.filesystem {
            check_switches("filesystem", filesystem::METRICS, &fs.metrics)?;
        }
        if let Some(process) = &s.process {
            check_switches("process", super::process::METRICS, &process.metrics)?;
            process.validate()?;
        }
        let any = simple.iter().any(|(_, _, c)| c.is_some())
            || s.filesystem.is_some()
            || s.process.is_some();
        if !any {
            return Err("scrapers: enable at least one scraper (cpu, memory, disk, filesystem, network, load, paging, processes, system, process, container)".into());
        }
        Ok(())
    }
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
