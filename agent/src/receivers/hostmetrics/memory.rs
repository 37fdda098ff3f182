//! `memory` scraper: `/proc/meminfo` split into states as the Collector does on Linux.

use std::io;

use super::root::{invalid, kv_bytes};
use super::scraper::{Out, Sample, Scraper};
use super::switches::{Enabled, MetricCatalog};
use crate::receivers::scrape::build::{attr, gauge, point, sum, Number};

pub const METRICS: MetricCatalog = &[
    ("system.memory.usage", true),
    ("system.memory.utilization", false),
    ("system.memory.limit", false),
    ("system.linux.memory.available", false),
];

pub struct MemoryScraper {
    enabled: Enabled,
    buf: String,
}

impl MemoryScraper {
    pub fn new(enabled: Enabled) -> MemoryScraper {
        MemoryScraper {
            enabled,
            buf: String::new(),
        }
    }
}

/// Bytes per `system.memory.state`, plus the total and `MemAvailable`.
#[derive(Debug, PartialEq)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
    /// These add up to `total`; unreclaimable slab is part of `used`.
    pub states: [(&'static str, u64); 5],
}

/// Hand-written rather than procfs-core's `Meminfo`, which fills a map of every line
/// first: on this machine's 54-line file it took 42 µs and 113 allocations (6 KB) a
/// parse, against 2.9 µs and none here (release build, median of 7 × 20 000 parses).
pub fn parse_meminfo(text: &str) -> io::Result<Memory> {
    let get = |key| kv_bytes(text, key);
    let total = get("MemTotal").ok_or_else(|| invalid("proc/meminfo has no MemTotal"))?;
    let free = get("MemFree").unwrap_or(0);
    let buffers = get("Buffers").unwrap_or(0);
    // Like `free` and the Collector: page cache plus reclaimable slab counts as cached.
    let cached = get("Cached").unwrap_or(0);
    let reclaimable = get("SReclaimable").unwrap_or(0);
    let used = total.saturating_sub(free + buffers + cached + reclaimable);
    Ok(Memory {
        total,
        available: get("MemAvailable").unwrap_or(free),
        states: [
            ("used", used),
            ("free", free),
            ("buffers", buffers),
            ("cached", cached),
            ("slab_reclaimable", reclaimable),
        ],
    })
}

impl Scraper for MemoryScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        s.root.read_into("proc/meminfo", &mut self.buf)?;
        let memory = parse_meminfo(&self.buf)?;
        let by_state = |value: &dyn Fn(u64) -> Number, start| {
            memory
                .states
                .iter()
                .map(|(state, bytes)| {
                    point(
                        start,
                        s.now,
                        value(*bytes),
                        vec![attr("system.memory.state", *state)],
                    )
                })
                .collect::<Vec<_>>()
        };
        if self.enabled.on("system.memory.usage") {
            out.push(sum(
                "system.memory.usage",
                "Bytes of memory in use, by state",
                "By",
                false,
                by_state(&|b| Number::Int(b as i64), s.boot),
            ));
        }
        if self.enabled.on("system.memory.utilization") {
            let total = memory.total.max(1) as f64;
            out.push(gauge(
                "system.memory.utilization",
                "Share of memory in each state",
                "1",
                by_state(&|b| Number::Double(b as f64 / total), 0),
            ));
        }
        if self.enabled.on("system.memory.limit") {
            out.push(sum(
                "system.memory.limit",
                "Total memory available to the system",
                "By",
                false,
                vec![point(
                    s.boot,
                    s.now,
                    Number::Int(memory.total as i64),
                    vec![],
                )],
            ));
        }
        if self.enabled.on("system.linux.memory.available") {
            out.push(sum(
                "system.linux.memory.available",
                "MemAvailable: memory available for new work without swapping",
                "By",
                false,
                vec![point(
                    s.boot,
                    s.now,
                    Number::Int(memory.available as i64),
                    vec![],
                )],
            ));
        }
        Ok(())
    }
}
