//! `disk` scraper: `/proc/diskstats`. Devices that never did any I/O (unused loop and ram
//! devices) are left out to keep cardinality down; `include` / `exclude` select the rest.

use std::io;

use opentelemetry_proto::tonic::metrics::v1::Metric;

use super::config::{DiskConfig, Enabled, MetricCatalog};
use super::matching::IncludeExclude;
use super::{HostScraper, Sample};
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

/// `/proc/diskstats` sectors are always 512 bytes, whatever the device's block size.
const SECTOR_BYTES: u64 = 512;

/// One device's counters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiskStats {
    pub device: String,
    pub reads: u64,
    pub reads_merged: u64,
    pub read_bytes: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub writes_merged: u64,
    pub write_bytes: u64,
    pub write_ms: u64,
    pub in_progress: u64,
    pub io_ms: u64,
    pub weighted_ms: u64,
}

pub fn parse_diskstats(text: &str) -> Vec<DiskStats> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 14 {
                return None;
            }
            let n = |i: usize| fields[i].parse::<u64>().unwrap_or(0);
            Some(DiskStats {
                device: fields[2].to_string(),
                reads: n(3),
                reads_merged: n(4),
                read_bytes: n(5) * SECTOR_BYTES,
                read_ms: n(6),
                writes: n(7),
                writes_merged: n(8),
                write_bytes: n(9) * SECTOR_BYTES,
                write_ms: n(10),
                in_progress: n(11),
                io_ms: n(12),
                weighted_ms: n(13),
            })
        })
        .filter(|d| d.reads + d.writes + d.in_progress > 0)
        .collect()
}

/// The compiled `include` / `exclude` of `scrapers.disk`.
pub fn device_filter(config: &DiskConfig) -> Result<IncludeExclude, String> {
    IncludeExclude::compile(
        "scrapers.disk",
        config.include.names(),
        config.exclude.names(),
    )
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

impl HostScraper for DiskScraper {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn scrape(&mut self, s: &Sample, out: &mut Vec<Metric>) -> io::Result<()> {
        s.root.read_into("proc/diskstats", &mut self.buf)?;
        let mut disks = parse_diskstats(&self.buf);
        disks.retain(|d| self.devices.wants(&d.device));
        let int = |v: u64| Number::Int(v as i64);
        let secs = |ms: u64| Number::Double(ms as f64 / 1000.0);
        let directed = |f: &dyn Fn(&DiskStats) -> (Number, Number)| {
            disks
                .iter()
                .flat_map(|d| {
                    let (read, write) = f(d);
                    [("read", read), ("write", write)].map(|(dir, v)| {
                        point(
                            s.boot,
                            s.now,
                            v,
                            vec![
                                attr("system.device", d.device.as_str()),
                                attr("disk.io.direction", dir),
                            ],
                        )
                    })
                })
                .collect::<Vec<_>>()
        };
        let plain = |f: &dyn Fn(&DiskStats) -> Number| {
            disks
                .iter()
                .map(|d| {
                    point(
                        s.boot,
                        s.now,
                        f(d),
                        vec![attr("system.device", d.device.as_str())],
                    )
                })
                .collect::<Vec<_>>()
        };
        let on = |name| self.enabled.on(name);
        if on("system.disk.io") {
            out.push(sum(
                "system.disk.io",
                "Bytes read from and written to each device",
                "By",
                true,
                directed(&|d| (int(d.read_bytes), int(d.write_bytes))),
            ));
        }
        if on("system.disk.operations") {
            out.push(sum(
                "system.disk.operations",
                "Read and write operations completed",
                "{operation}",
                true,
                directed(&|d| (int(d.reads), int(d.writes))),
            ));
        }
        if on("system.disk.io_time") {
            out.push(sum(
                "system.disk.io_time",
                "Time the device was busy",
                "s",
                true,
                plain(&|d| secs(d.io_ms)),
            ));
        }
        if on("system.disk.operation_time") {
            out.push(sum(
                "system.disk.operation_time",
                "Time spent in read and write operations",
                "s",
                true,
                directed(&|d| (secs(d.read_ms), secs(d.write_ms))),
            ));
        }
        if on("system.disk.weighted_io_time") {
            out.push(sum(
                "system.disk.weighted_io_time",
                "Busy time weighted by queue length",
                "s",
                true,
                plain(&|d| secs(d.weighted_ms)),
            ));
        }
        if on("system.disk.pending_operations") {
            out.push(sum(
                "system.disk.pending_operations",
                "Operations in flight",
                "{operation}",
                false,
                plain(&|d| int(d.in_progress)),
            ));
        }
        if on("system.disk.merged") {
            out.push(sum(
                "system.disk.merged",
                "Adjacent operations merged by the kernel",
                "{operation}",
                true,
                directed(&|d| (int(d.reads_merged), int(d.writes_merged))),
            ));
        }
        Ok(())
    }
}
