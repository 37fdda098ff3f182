//! `cpu` scraper: `/proc/stat` per-CPU times, utilization since the previous scrape,
//! counts and frequency from `/proc/cpuinfo`.

use std::collections::HashSet;
use std::io;

use super::root::{clock_ticks_per_second, invalid, parse_per_cpu};
use super::scraper::{Out, Sample, Scraper};
use super::switches::{Enabled, MetricCatalog};
use crate::receivers::scrape::build::{attr, gauge, point, sum, Number};

pub const METRICS: MetricCatalog = &[
    ("system.cpu.time", true),
    ("system.cpu.utilization", false),
    ("system.cpu.physical.count", false),
    ("system.cpu.logical.count", false),
    ("system.cpu.frequency", false),
];

/// `/proc/stat` columns in order, with their `cpu.mode` value.
const MODES: [&str; 8] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "interrupt",
    "softirq",
    "steal",
];

pub struct CpuScraper {
    enabled: Enabled,
    ticks: f64,
    /// Per CPU, the previous scrape's ticks per mode, for utilization.
    previous: Vec<[u64; 8]>,
    buf: String,
}

impl CpuScraper {
    pub fn new(enabled: Enabled) -> CpuScraper {
        CpuScraper {
            enabled,
            ticks: clock_ticks_per_second(),
            previous: Vec::new(),
            buf: String::new(),
        }
    }
}

impl CpuScraper {
    /// `system.cpu.time`: seconds per CPU and mode since boot.
    fn times(&self, s: &Sample, cpus: &[(i64, [u64; 8])], out: &mut Out) {
        let mut points = Vec::with_capacity(cpus.len() * MODES.len());
        for (number, ticks) in cpus {
            for (mode, value) in MODES.iter().zip(ticks) {
                points.push(point(
                    s.boot,
                    s.now,
                    Number::Double(*value as f64 / self.ticks),
                    vec![attr("cpu.mode", *mode), attr("cpu.logical_number", *number)],
                ));
            }
        }
        out.push(sum(
            "system.cpu.time",
            "Seconds each logical CPU spent in each mode",
            "s",
            true,
            points,
        ));
    }

    /// `system.cpu.utilization`: each mode's share of the ticks since the previous scrape.
    fn utilization(&self, s: &Sample, cpus: &[(i64, [u64; 8])], out: &mut Out) {
        let mut points = Vec::with_capacity(cpus.len() * MODES.len());
        for ((number, ticks), before) in cpus.iter().zip(&self.previous) {
            let deltas: Vec<u64> = ticks
                .iter()
                .zip(before)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect();
            let total: u64 = deltas.iter().sum();
            for (mode, delta) in MODES.iter().zip(&deltas) {
                let share = if total == 0 {
                    0.0
                } else {
                    *delta as f64 / total as f64
                };
                points.push(point(
                    0,
                    s.now,
                    Number::Double(share),
                    vec![attr("cpu.mode", *mode), attr("cpu.logical_number", *number)],
                ));
            }
        }
        out.push(gauge(
            "system.cpu.utilization",
            "Share of each logical CPU's time in each mode since the last scrape",
            "1",
            points,
        ));
    }

    /// `system.cpu.physical.count` and `system.cpu.frequency`, from `/proc/cpuinfo`.
    fn cpuinfo(&self, s: &Sample, out: &mut Out) -> io::Result<()> {
        let info = parse_cpuinfo(&s.root.read("proc/cpuinfo")?);
        if self.enabled.on("system.cpu.physical.count") {
            out.push(sum(
                "system.cpu.physical.count",
                "Physical CPU cores",
                "{cpu}",
                false,
                vec![point(
                    s.boot,
                    s.now,
                    Number::Int(info.physical_cores as i64),
                    vec![],
                )],
            ));
        }
        if self.enabled.on("system.cpu.frequency") {
            let points = info
                .mhz
                .iter()
                .enumerate()
                .map(|(n, mhz)| {
                    point(
                        0,
                        s.now,
                        Number::Double(mhz * 1e6),
                        vec![attr("cpu.logical_number", n as i64)],
                    )
                })
                .collect();
            out.push(gauge(
                "system.cpu.frequency",
                "Current frequency of each logical CPU",
                "Hz",
                points,
            ));
        }
        Ok(())
    }
}

impl Scraper for CpuScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        s.root.read_into("proc/stat", &mut self.buf)?;
        let cpus = parse_per_cpu(&self.buf);
        if cpus.is_empty() {
            return Err(invalid("proc/stat has no cpuN lines"));
        }
        if self.enabled.on("system.cpu.time") {
            self.times(s, &cpus, out);
        }
        if self.enabled.on("system.cpu.utilization") && self.previous.len() == cpus.len() {
            self.utilization(s, &cpus, out);
        }
        self.previous = cpus.iter().map(|(_, ticks)| *ticks).collect();
        if self.enabled.on("system.cpu.logical.count") {
            out.push(sum(
                "system.cpu.logical.count",
                "Logical CPUs",
                "{cpu}",
                false,
                vec![point(s.boot, s.now, Number::Int(cpus.len() as i64), vec![])],
            ));
        }
        if self.enabled.on("system.cpu.physical.count") || self.enabled.on("system.cpu.frequency") {
            self.cpuinfo(s, out)?;
        }
        Ok(())
    }
}

pub struct CpuInfo {
    pub physical_cores: usize,
    pub mhz: Vec<f64>,
}

pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut cores = HashSet::new();
    let mut mhz = Vec::new();
    for block in text.split("\n\n") {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        if let Some(freq) = field("cpu MHz").and_then(|v| v.parse::<f64>().ok()) {
            mhz.push(freq);
        }
        if let (Some(package), Some(core)) = (field("physical id"), field("core id")) {
            cores.insert((package, core));
        } else if field("processor").is_some() {
            cores.insert((String::new(), format!("p{}", cores.len())));
        }
    }
    CpuInfo {
        physical_cores: cores.len(),
        mhz,
    }
}
