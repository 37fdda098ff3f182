//! One process's metrics, from what the scraper read for it this round.

use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint};

use super::super::switches::Enabled;
use super::read::{Io, Stat};
use crate::receivers::scrape::build::{attr, gauge, point, sum, Number};

/// The host constants process figures are scaled by.
pub struct Scale {
    pub ticks_per_second: f64,
    pub page_bytes: u64,
    pub cpus: f64,
}

/// What was read for one process in this round.
pub struct Figures<'a> {
    pub stat: &'a Stat,
    /// The process's start and this round's time, ns since the epoch.
    pub start: u64,
    pub now: u64,
    /// CPU ticks since the previous scrape, and the ns since then (0 for a new process).
    pub cpu_delta_ticks: u64,
    pub elapsed_nano: u64,
    /// Physical memory, when `process.memory.utilization` is on.
    pub mem_total: Option<u64>,
    /// `/proc/<pid>/io`, when a disk metric is on and the file was readable.
    pub io: Option<Io>,
    /// Entries of `/proc/<pid>/fd`, when that metric is on and the directory was readable.
    pub open_fds: Option<u64>,
}

impl Figures<'_> {
    fn one(&self, value: Number) -> Vec<NumberDataPoint> {
        vec![point(self.start, self.now, value, vec![])]
    }

    /// Two points that differ by the value of attribute `key`.
    fn pair(&self, key: &str, a: (&str, Number), b: (&str, Number)) -> Vec<NumberDataPoint> {
        vec![
            point(self.start, self.now, a.1, vec![attr(key, a.0)]),
            point(self.start, self.now, b.1, vec![attr(key, b.0)]),
        ]
    }
}

fn int(v: u64) -> Number {
    Number::Int(v as i64)
}

/// Every enabled metric of one process, in catalog order.
pub fn metrics(enabled: &Enabled, scale: &Scale, f: &Figures) -> Vec<Metric> {
    let mut out = Vec::new();
    cpu(enabled, scale, f, &mut out);
    memory(enabled, scale, f, &mut out);
    activity(enabled, f, &mut out);
    if let Some(io) = &f.io {
        disk(enabled, f, io, &mut out);
    }
    if let Some(fds) = f.open_fds {
        out.push(sum(
            "process.open_file_descriptors",
            "Open file descriptors",
            "{file_descriptor}",
            false,
            f.one(int(fds)),
        ));
    }
    out
}

/// `process.cpu.time` and `process.cpu.utilization`.
fn cpu(enabled: &Enabled, scale: &Scale, f: &Figures, out: &mut Vec<Metric>) {
    let seconds = |ticks: u64| Number::Double(ticks as f64 / scale.ticks_per_second);
    if enabled.on("process.cpu.time") {
        out.push(sum(
            "process.cpu.time",
            "CPU seconds of the process, by mode",
            "s",
            true,
            f.pair(
                "cpu.mode",
                ("user", seconds(f.stat.utime_ticks)),
                ("system", seconds(f.stat.stime_ticks)),
            ),
        ));
    }
    if enabled.on("process.cpu.utilization") && f.elapsed_nano > 0 {
        let share = f.cpu_delta_ticks as f64
            / scale.ticks_per_second
            / (f.elapsed_nano as f64 / 1e9)
            / scale.cpus;
        out.push(gauge(
            "process.cpu.utilization",
            "Share of all CPUs the process used since the last scrape",
            "1",
            vec![point(0, f.now, Number::Double(share), vec![])],
        ));
    }
}

/// `process.memory.usage`, `virtual` and `utilization`.
fn memory(enabled: &Enabled, scale: &Scale, f: &Figures, out: &mut Vec<Metric>) {
    let rss = f.stat.rss_pages * scale.page_bytes;
    if enabled.on("process.memory.usage") {
        out.push(sum(
            "process.memory.usage",
            "Resident set size",
            "By",
            false,
            f.one(int(rss)),
        ));
    }
    if enabled.on("process.memory.virtual") {
        out.push(sum(
            "process.memory.virtual",
            "Virtual memory size",
            "By",
            false,
            f.one(int(f.stat.vsize_bytes)),
        ));
    }
    if let Some(total) = f.mem_total.filter(|t| *t > 0) {
        out.push(gauge(
            "process.memory.utilization",
            "RSS as a share of physical memory",
            "1",
            vec![point(
                0,
                f.now,
                Number::Double(rss as f64 / total as f64),
                vec![],
            )],
        ));
    }
}

/// `process.threads` and `process.paging.faults`.
fn activity(enabled: &Enabled, f: &Figures, out: &mut Vec<Metric>) {
    if enabled.on("process.threads") {
        out.push(sum(
            "process.threads",
            "Threads in the process",
            "{thread}",
            false,
            f.one(Number::Int(f.stat.threads)),
        ));
    }
    if enabled.on("process.paging.faults") {
        out.push(sum(
            "process.paging.faults",
            "Page faults",
            "{fault}",
            true,
            f.pair(
                "system.paging.type",
                ("major", int(f.stat.major_faults)),
                ("minor", int(f.stat.minor_faults)),
            ),
        ));
    }
}

/// `process.disk.io` and `process.disk.operations`.
fn disk(enabled: &Enabled, f: &Figures, io: &Io, out: &mut Vec<Metric>) {
    if enabled.on("process.disk.io") {
        out.push(sum(
            "process.disk.io",
            "Bytes read from and written to storage",
            "By",
            true,
            f.pair(
                "disk.io.direction",
                ("read", int(io.read_bytes)),
                ("write", int(io.write_bytes)),
            ),
        ));
    }
    if enabled.on("process.disk.operations") {
        out.push(sum(
            "process.disk.operations",
            "Read and write system calls",
            "{operation}",
            true,
            f.pair(
                "disk.io.direction",
                ("read", int(io.syscr)),
                ("write", int(io.syscw)),
            ),
        ));
    }
}
