//! `receivers.hostmetrics`: the user-facing configuration, keyed like the OpenTelemetry
//! Collector's hostmetrics receiver so existing configs keep working.

use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::config::{unknown_key_message, ComponentConfig, ValidationError};
use serde::{Deserialize, Deserializer, Serialize};

use super::matching::{DeviceMatch, FsTypeMatch, InterfaceMatch, MountPointMatch};
use super::process::ProcessConfig;

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

/// A scraper whose only option is the metric switches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsOnly {
    /// Switch single metrics on or off: `metrics: { system.cpu.utilization: { enabled: true } }`.
    /// Metrics not listed keep their default (the Collector's).
    pub metrics: MetricSwitches,
}

/// `scrapers.disk`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Switch single metrics on or off (see `MetricsOnly`).
    pub metrics: MetricSwitches,
    /// Report only these devices: `{ devices: [sda, nvme0n1], match_type: strict }`.
    /// Empty (the default) reports every device that has done I/O since boot.
    pub include: DeviceMatch,
    /// Never report these devices: `{ devices: ['^loop', '^ram'], match_type: regexp }`.
    pub exclude: DeviceMatch,
}

/// `scrapers.network`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Switch single metrics on or off (see `MetricsOnly`).
    pub metrics: MetricSwitches,
    /// Report only these interfaces: `{ interfaces: [eth0], match_type: strict }`.
    /// Empty (the default) reports every interface. TCP connection counts are host-wide
    /// and not filtered.
    pub include: InterfaceMatch,
    /// Never report these interfaces: `{ interfaces: ['^veth', '^cali'], match_type: regexp }`.
    pub exclude: InterfaceMatch,
}

/// `scrapers.filesystem`. A mount is reported when it passes every include list that is
/// set and matches no exclude list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// Switch single metrics on or off (see `MetricsOnly`).
    pub metrics: MetricSwitches,
    /// Also report pseudo filesystems (proc, sysfs, cgroup, tmpfs, overlay...). Default false.
    pub include_virtual_filesystems: bool,
    /// Report only these devices: `{ devices: [/dev/sda1], match_type: strict }`.
    pub include_devices: DeviceMatch,
    /// Never report these devices.
    pub exclude_devices: DeviceMatch,
    /// Report only these types: `{ fs_types: [ext4, xfs], match_type: strict }`.
    pub include_fs_types: FsTypeMatch,
    /// Never report these types: `{ fs_types: [nfs4, fuse.sshfs], match_type: strict }`.
    pub exclude_fs_types: FsTypeMatch,
    /// Report only these mount points (as the host sees them, without `root_path`).
    pub include_mount_points: MountPointMatch,
    /// Never report these mount points:
    /// `{ mount_points: ['^/var/lib/kubelet/', '^/run/containerd/'], match_type: regexp }`.
    pub exclude_mount_points: MountPointMatch,
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
) -> Result<(), ValidationError> {
    let valid: Vec<&str> = catalog.iter().map(|(name, _)| *name).collect();
    match switches.keys().find(|key| !valid.contains(&key.as_str())) {
        Some(key) => Err(ValidationError::at(
            format!("scrapers.{scraper}.metrics"),
            unknown_key_message(key, &valid),
        )),
        None => Ok(()),
    }
}

/// An include/exclude compile error, whose message starts with the key it refuses
/// (`scrapers.disk.include: invalid regex ...`), as a [`ValidationError`] at that key.
fn filter_error(scraper: &str, message: String) -> ValidationError {
    let keyed = message
        .strip_prefix(scraper)
        .and_then(|rest| rest.split_once(": "))
        .filter(|(key, _)| key.starts_with('.') && !key.contains(' '));
    match keyed {
        Some((key, rest)) => ValidationError::at(format!("{scraper}{key}"), rest),
        None => ValidationError::new(message),
    }
}

impl ComponentConfig for HostMetricsConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        use super::{
            container, cpu, disk, filesystem, load, memory, network, paging, processes, system,
        };
        if self.collection_interval < Duration::from_secs(1) {
            return Err(ValidationError::new(
                "collection_interval must be at least 1s",
            ));
        }
        if !self.root_path.starts_with('/') {
            return Err(ValidationError::new(format!(
                "root_path must be an absolute path, got {:?}",
                self.root_path
            )));
        }
        let s = &self.scrapers;
        let simple = [
            ("cpu", cpu::METRICS, &s.cpu),
            ("memory", memory::METRICS, &s.memory),
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
        if let Some(config) = &s.disk {
            check_switches("disk", disk::METRICS, &config.metrics)?;
            disk::device_filter(config).map_err(|e| filter_error("scrapers.disk", e))?;
        }
        if let Some(config) = &s.network {
            check_switches("network", network::METRICS, &config.metrics)?;
            network::interface_filter(config).map_err(|e| filter_error("scrapers.network", e))?;
        }
        if let Some(fs) = &s.filesystem {
            check_switches("filesystem", filesystem::METRICS, &fs.metrics)?;
            filesystem::MountFilter::compile(fs)
                .map_err(|e| filter_error("scrapers.filesystem", e))?;
        }
        if let Some(process) = &s.process {
            check_switches("process", super::process::METRICS, &process.metrics)?;
            process.validate()?;
        }
        let any = simple.iter().any(|(_, _, c)| c.is_some())
            || s.disk.is_some()
            || s.network.is_some()
            || s.filesystem.is_some()
            || s.process.is_some();
        if !any {
            return Err(ValidationError::at(
                "scrapers",
                "enable at least one scraper (cpu, memory, disk, filesystem, network, load, \
                 paging, processes, system, process, container)",
            ));
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
