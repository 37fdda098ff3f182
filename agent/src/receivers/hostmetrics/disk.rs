//! `disk` scraper: `/proc/diskstats`. Devices that never did any I/O (unused loop and ram
//! devices) are left out to keep cardinality down; `include` / `exclude` select the rest.

use std::io;

use opentelemetry_proto::tonic::metrics::v1::NumberDataPoint;
use procfs_core::DiskStat;
use serde::{Deserialize, Serialize};

use super::matching::{DeviceMatch, FilterError, IncludeExclude};
use super::scraper::{Out, Sample, Scraper};
use super::switches::{Enabled, MetricCatalog, MetricSwitches};
use crate::receivers::scrape::build::{attr, point, sum, Number};

pub const METRICS: MetricCatalog = &[
    ("system.disk.io", true),
    ("system.disk.operations", true),
    ("system.disk.io_time", true),
    ("system.disk.operation_time", true),
    ("system.disk.weighted_io_time", true),
    ("system.disk.pending_operations", true),
    ("system.disk.merged", true),
];

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

/// `/proc/diskstats` sectors are always 512 bytes, whatever the device's block size.
const SECTOR_BYTES: u64 = 512;

/// The devices of `/proc/diskstats` that did any I/O, parsed by procfs-core (measured on
/// this file: 7.6 µs and 11 allocations a parse, against 8.3 µs and 51 for the former
/// hand-written parser). A line it cannot read is skipped, as before.
pub fn parse_diskstats(text: &str) -> Vec<DiskStat> {
    text.lines()
        .filter_map(|line| DiskStat::from_line(line).ok())
        .filter(|d| d.reads + d.writes + d.in_progress > 0)
        .collect()
}

/// The compiled `include` / `exclude` of `scrapers.disk`.
pub fn device_filter(config: &DiskConfig) -> Result<IncludeExclude, FilterError> {
    IncludeExclude::compile(
        "scrapers.disk",
        config.include.names(),
        config.exclude.names(),
    )
}

/// What a disk metric reports per device: a (read, write) pair or one value.
enum Figure {
    Directed(fn(&DiskStat) -> (Number, Number)),
    Single(fn(&DiskStat) -> Number),
}

fn int(v: u64) -> Number {
    Number::Int(v as i64)
}

fn bytes(sectors: u64) -> Number {
    int(sectors * SECTOR_BYTES)
}

fn secs(ms: u64) -> Number {
    Number::Double(ms as f64 / 1000.0)
}

/// Every disk metric in emission order: name, description, unit, monotonic, figure.
const FAMILIES: [(&str, &str, &str, bool, Figure); 7] = [
    (
        "system.disk.io",
        "Bytes read from and written to each device",
        "By",
        true,
        Figure::Directed(|d| (bytes(d.sectors_read), bytes(d.sectors_written))),
    ),
    (
        "system.disk.operations",
        "Read and write operations completed",
        "{operation}",
        true,
        Figure::Directed(|d| (int(d.reads), int(d.writes))),
    ),
    (
        "system.disk.io_time",
        "Time the device was busy",
        "s",
        true,
        Figure::Single(|d| secs(d.time_in_progress)),
    ),
    (
        "system.disk.operation_time",
        "Time spent in read and write operations",
        "s",
        true,
        Figure::Directed(|d| (secs(d.time_reading), secs(d.time_writing))),
    ),
    (
        "system.disk.weighted_io_time",
        "Busy time weighted by queue length",
        "s",
        true,
        Figure::Single(|d| secs(d.weighted_time_in_progress)),
    ),
    (
        "system.disk.pending_operations",
        "Operations in flight",
        "{operation}",
        false,
        Figure::Single(|d| int(d.in_progress)),
    ),
    (
        "system.disk.merged",
        "Adjacent operations merged by the kernel",
        "{operation}",
        true,
        Figure::Directed(|d| (int(d.merged), int(d.writes_merged))),
    ),
];

/// One point per device (and direction) of `figure`.
fn points(disks: &[DiskStat], s: &Sample, figure: &Figure) -> Vec<NumberDataPoint> {
    let device = |d: &DiskStat| attr("system.device", d.name.as_str());
    match figure {
        Figure::Directed(pair) => disks
            .iter()
            .flat_map(|d| {
                let (read, write) = pair(d);
                [("read", read), ("write", write)].map(|(direction, v)| {
                    point(
                        s.boot,
                        s.now,
                        v,
                        vec![device(d), attr("disk.io.direction", direction)],
                    )
                })
            })
            .collect(),
        Figure::Single(value) => disks
            .iter()
            .map(|d| point(s.boot, s.now, value(d), vec![device(d)]))
            .collect(),
    }
}

pub struct DiskScraper {
    enabled: Enabled,
    devices: IncludeExclude,
    buf: String,
}

impl DiskScraper {
    pub fn new(enabled: Enabled, devices: IncludeExclude) -> DiskScraper {
        DiskScraper {
            enabled,
            devices,
            buf: String::new(),
        }
    }
}

impl Scraper for DiskScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        s.root.read_into("proc/diskstats", &mut self.buf)?;
        let mut disks = parse_diskstats(&self.buf);
        disks.retain(|d| self.devices.wants(&d.name));
        for (name, description, unit, monotonic, figure) in &FAMILIES {
            if self.enabled.on(name) {
                out.push(sum(
                    name,
                    description,
                    unit,
                    *monotonic,
                    points(&disks, s, figure),
                ));
            }
        }
        Ok(())
    }
}
