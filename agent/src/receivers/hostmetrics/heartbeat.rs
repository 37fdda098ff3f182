//! A small host heartbeat for the agent's periodic console summary: CPU busy share since
//! the previous reading, memory in use and the 1-minute load, from the same `/proc` parsers
//! as the scrapers. Reads three small files; safe on any Linux host and in containers.

use std::path::PathBuf;

use super::memory::parse_meminfo;
use super::root::parse_per_cpu;

/// One reading; a figure is `None` when its file could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostVitals {
    /// Share of CPU time not idle or waiting on I/O since the previous reading, 0–100.
    pub cpu_percent: Option<f64>,
    /// `1 − MemAvailable / MemTotal`, 0–100.
    pub memory_percent: Option<f64>,
    pub load1: Option<f64>,
}

pub struct HostHeartbeat {
    proc_dir: PathBuf,
    /// (busy, total) ticks over all CPUs at the previous reading.
    previous: Option<(u64, u64)>,
}

impl HostHeartbeat {
    pub fn new() -> HostHeartbeat {
        HostHeartbeat::at("/proc".into())
    }

    pub fn at(proc_dir: PathBuf) -> HostHeartbeat {
        HostHeartbeat {
            proc_dir,
            previous: None,
        }
    }

    pub fn read(&mut self) -> HostVitals {
        let file = |name: &str| std::fs::read_to_string(self.proc_dir.join(name)).ok();
        let ticks = file("stat").map(|stat| busy_and_total(&stat));
        let cpu_percent = match (self.previous, ticks) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                Some(100.0 * busy1.saturating_sub(busy0) as f64 / (total1 - total0) as f64)
            }
            _ => None,
        };
        self.previous = ticks.or(self.previous);
        let memory_percent = file("meminfo")
            .and_then(|text| parse_meminfo(&text).ok())
            .filter(|m| m.total > 0)
            .map(|m| 100.0 * (1.0 - m.available as f64 / m.total as f64));
        let load1 = file("loadavg").and_then(|text| text.split_whitespace().next()?.parse().ok());
        HostVitals {
            cpu_percent,
            memory_percent,
            load1,
        }
    }
}

impl Default for HostHeartbeat {
    fn default() -> Self {
        HostHeartbeat::new()
    }
}

/// Busy (all but idle and iowait) and total ticks, summed over every CPU.
fn busy_and_total(stat: &str) -> (u64, u64) {
    parse_per_cpu(stat)
        .iter()
        .fold((0, 0), |(busy, total), (_, ticks)| {
            let all: u64 = ticks.iter().sum();
            (busy + all - ticks[3] - ticks[4], total + all)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_share_comes_from_the_difference_of_two_readings() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "stat",
            "cpu  0 0 0 0 0 0 0 0\ncpu0 10 0 10 70 10 0 0 0\ncpu1 0 0 0 100 0 0 0 0\n",
        );
        write(
            "meminfo",
            "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n",
        );
        write("loadavg", "0.42 0.30 0.20 1/100 4242\n");
        let mut heartbeat = HostHeartbeat::at(dir.path().to_path_buf());
        let first = heartbeat.read();
        assert_eq!(first.cpu_percent, None, "no share from one reading");
        assert_eq!(first.memory_percent, Some(75.0));
        assert_eq!(first.load1, Some(0.42));
        // cpu0: +30 busy of +40; cpu1: +0 of +60 → 30 of 100.
        write("stat", "cpu0 30 0 20 80 10 0 0 0\ncpu1 0 0 0 160 0 0 0 0\n");
        assert_eq!(heartbeat.read().cpu_percent, Some(30.0));
    }
}
