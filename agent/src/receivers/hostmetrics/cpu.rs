//! `cpu` scraper: `/proc/stat` per-CPU times, utilization since the previous scrape,
//! counts and frequency from `/proc/cpuinfo`.

use std::collections::HashSet;
use std::io;

use opentelemetry_proto::tonic::metrics::v1::Metric;

use super::config::{Enabled, MetricCatalog};
use super::root::{clock_ticks_per_second, invalid};
use super::{HostScraper, Sample};
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

/// Parses the `cpuN` lines of `/proc/stat` (not the aggregate `cpu` line).
pub fn parse_per_cpu(stat: &str) -> Vec<(i64, [u64; 8])> {
    stat.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("cpu")?;
            let (number, values) = rest.split_once(' ')?;
            let number: i64 = number.parse().ok()?;
            let mut ticks = [0u64; 8];
            for (slot, value) in ticks.iter_mut().zip(values.split_whitespace()) {
                *slot = value.parse().unwrap_or(0);
            }
            Some((number, ticks))
        })
        .collect()
}

impl HostScraper for CpuScraper {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn scrape(&mut self, s: &Sample, out: &mut Vec<Metric>) -> io::Result<()> {
        s.root.read_into("proc/stat", &mut self.buf)?;
        let cpus = parse_per_cpu(&self.buf);
        if cpus.is_empty() {
            return Err(invalid("proc/stat has no cpuN lines"));
        }
        if self.enabled.on("system.cpu.time") {
            let mut points = Vec::with_capacity(cpus.len() * MODES.len());
            for (number, ticks) in &cpus {
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
        if self.enabled.on("system.cpu.utilization") && self.previous.len() == cpus.len() {
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
        let want_physical = self.enabled.on("system.cpu.physical.count");
        let want_frequency = self.enabled.on("system.cpu.frequency");
        if want_physical || want_frequency {
            let cpuinfo = s.root.read("proc/cpuinfo")?;
            let info = parse_cpuinfo(&cpuinfo);
            if want_physical {
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
            if want_frequency {
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
