//! `filesystem` scraper: mounts from the host's `/proc/1/mounts` (falling back to
//! `/proc/mounts`), sizes from `statvfs` on the mount point under the root.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde::{Deserialize, Serialize};

use super::matching::{DeviceMatch, FilterError, FsTypeMatch, IncludeExclude, MountPointMatch};
use super::scraper::{Out, Sample, Scraper};
use super::switches::{Enabled, MetricCatalog, MetricSwitches};
use crate::receivers::scrape::build::{attr, gauge, point, sum, Number};

pub const METRICS: MetricCatalog = &[
    ("system.filesystem.usage", true),
    ("system.filesystem.inodes.usage", true),
    ("system.filesystem.utilization", false),
];

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

/// Pseudo filesystems, skipped unless `include_virtual_filesystems`.
const VIRTUAL: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "pstore",
    "bpf",
    "debugfs",
    "tracefs",
    "configfs",
    "fusectl",
    "mqueue",
    "hugetlbfs",
    "autofs",
    "binfmt_misc",
    "rpc_pipefs",
    "nsfs",
    "squashfs",
    "ramfs",
    "efivarfs",
    "selinuxfs",
    "fuse.lxcfs",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fs_type: String,
    pub read_only: bool,
}

pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let device = unescape(f.next()?);
            let mountpoint = unescape(f.next()?);
            let fs_type = f.next()?.to_string();
            let read_only = f.next()?.split(',').any(|o| o == "ro");
            Some(Mount {
                device,
                mountpoint,
                fs_type,
                read_only,
            })
        })
        .collect()
}

/// `/proc/mounts` writes space, tab, newline and backslash as octal escapes.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Sizes from `statvfs`, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsUsage {
    pub total: u64,
    pub free: u64,
    /// Free to unprivileged users; `free - available` is reserved for root.
    pub available: u64,
    pub inodes_total: u64,
    pub inodes_free: u64,
}

impl FsUsage {
    /// `(f_blocks - f_bfree) * f_frsize`: what `df` calls Used (root's reserve is not used).
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }

    /// `(f_bfree - f_bavail) * f_frsize`: kept for root, usable by nobody else.
    pub fn reserved(&self) -> u64 {
        self.free.saturating_sub(self.available)
    }

    /// `used / (used + available)`, as `df`'s Use% and the Collector (gopsutil's
    /// `UsedPercent`) compute it: the reserve counts as neither, so a full disk reads 1.0
    /// when ordinary users can write no more. 0 for an empty filesystem.
    pub fn utilization(&self) -> f64 {
        let usable = self.used() + self.available;
        if usable == 0 {
            return 0.0;
        }
        self.used() as f64 / usable as f64
    }
}

pub fn statvfs(path: &Path) -> io::Result<FsUsage> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a writable struct that
    // statvfs fills on success; it is only read after success.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let fragment = stat.f_frsize as u64;
    Ok(FsUsage {
        total: stat.f_blocks as u64 * fragment,
        free: stat.f_bfree as u64 * fragment,
        available: stat.f_bavail as u64 * fragment,
        inodes_total: stat.f_files as u64,
        inodes_free: stat.f_ffree as u64,
    })
}

/// Which mounts `scrapers.filesystem` reports: the virtual-filesystem switch, then the
/// device, type and mount-point include/exclude pairs, all of which must pass.
pub struct MountFilter {
    include_virtual: bool,
    devices: IncludeExclude,
    fs_types: IncludeExclude,
    mount_points: IncludeExclude,
}

impl MountFilter {
    pub fn compile(config: &FilesystemConfig) -> Result<MountFilter, FilterError> {
        let pair = |what: &str, include, exclude| {
            IncludeExclude::compile(&format!("scrapers.filesystem.{what}"), include, exclude)
        };
        Ok(MountFilter {
            include_virtual: config.include_virtual_filesystems,
            devices: pair(
                "devices",
                config.include_devices.names(),
                config.exclude_devices.names(),
            )?,
            fs_types: pair(
                "fs_types",
                config.include_fs_types.names(),
                config.exclude_fs_types.names(),
            )?,
            mount_points: pair(
                "mount_points",
                config.include_mount_points.names(),
                config.exclude_mount_points.names(),
            )?,
        })
    }

    pub fn wants(&self, m: &Mount) -> bool {
        (self.include_virtual || !VIRTUAL.contains(&m.fs_type.as_str()))
            && self.devices.wants(&m.device)
            && self.fs_types.wants(&m.fs_type)
            && self.mount_points.wants(&m.mountpoint)
    }
}

pub struct FilesystemScraper {
    enabled: Enabled,
    mounts: MountFilter,
    buf: String,
}

impl FilesystemScraper {
    pub fn new(enabled: Enabled, mounts: MountFilter) -> FilesystemScraper {
        FilesystemScraper {
            enabled,
            mounts,
            buf: String::new(),
        }
    }
}

impl FilesystemScraper {
    /// The mounts to report, with their sizes: the visible mount of each mount point
    /// that passes the filter and can be stat'ed.
    fn mounts(&mut self, s: &Sample) -> io::Result<Vec<(Mount, FsUsage)>> {
        if s.root.read_into("proc/1/mounts", &mut self.buf).is_err() {
            s.root.read_into("proc/mounts", &mut self.buf)?;
        }
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for mount in parse_mounts(&self.buf).into_iter().rev() {
            // The same mount point can be stacked; the last mount is the visible one.
            if !self.mounts.wants(&mount) {
                continue;
            }
            // A mount that cannot be stat'ed (gone, no permission) is skipped, not fatal.
            if let Ok(usage) = statvfs(&s.root.join(&mount.mountpoint)) {
                if usage.total > 0 && seen.insert(mount.mountpoint.clone()) {
                    rows.push((mount, usage));
                }
            }
        }
        Ok(rows)
    }
}

/// The attributes of a point of mount `m` in `state`.
fn attributes(m: &Mount, state: &str) -> Vec<KeyValue> {
    vec![
        attr("system.device", m.device.as_str()),
        attr("system.filesystem.mountpoint", m.mountpoint.as_str()),
        attr("system.filesystem.type", m.fs_type.as_str()),
        attr(
            "system.filesystem.mode",
            if m.read_only { "ro" } else { "rw" },
        ),
        attr("system.filesystem.state", state),
    ]
}

impl Scraper for FilesystemScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        let rows = self.mounts(s)?;
        let by_state = |states: &dyn Fn(&FsUsage) -> Vec<(&'static str, u64)>| {
            rows.iter()
                .flat_map(|(m, u)| {
                    states(u).into_iter().map(|(state, v)| {
                        point(s.boot, s.now, Number::Int(v as i64), attributes(m, state))
                    })
                })
                .collect()
        };
        if self.enabled.on("system.filesystem.usage") {
            out.push(sum(
                "system.filesystem.usage",
                "Filesystem bytes used, free and reserved",
                "By",
                false,
                by_state(&|u| {
                    vec![
                        // The Collector's states: free is what users can still write.
                        ("used", u.used()),
                        ("free", u.available),
                        ("reserved", u.reserved()),
                    ]
                }),
            ));
        }
        if self.enabled.on("system.filesystem.inodes.usage") {
            out.push(sum(
                "system.filesystem.inodes.usage",
                "Filesystem inodes used and free",
                "{inode}",
                false,
                by_state(&|u| {
                    vec![
                        ("used", u.inodes_total.saturating_sub(u.inodes_free)),
                        ("free", u.inodes_free),
                    ]
                }),
            ));
        }
        if self.enabled.on("system.filesystem.utilization") {
            let points = rows
                .iter()
                .map(|(m, u)| {
                    let mut a = attributes(m, "used");
                    a.pop();
                    point(0, s.now, Number::Double(u.utilization()), a)
                })
                .collect();
            out.push(gauge(
                "system.filesystem.utilization",
                "Share of the usable filesystem in use: used / (used + free), as df's Use%",
                "1",
                points,
            ));
        }
        Ok(())
    }
}
