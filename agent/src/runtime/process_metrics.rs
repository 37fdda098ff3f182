//! The agent's own CPU time and resident memory, read from /proc at scrape time.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::gauge::Gauge;
use sentinel_pipeline::SelfMetrics;

#[derive(Clone)]
pub struct ProcessMetrics {
    cpu_seconds: Gauge<f64, AtomicU64>,
    resident_bytes: Gauge,
}

impl ProcessMetrics {
    pub fn register(metrics: &SelfMetrics) -> ProcessMetrics {
        let process = ProcessMetrics {
            cpu_seconds: metrics.family(
                "process_cpu_seconds",
                "User plus system CPU time the agent has used, in seconds",
                Gauge::default,
            ),
            resident_bytes: metrics.family(
                "process_resident_memory_bytes",
                "Resident set size of the agent, in bytes",
                Gauge::default,
            ),
        };
        process.refresh();
        process
    }

    /// Reads /proc/self; on platforms without it the values stay at zero.
    pub fn refresh(&self) {
        if let Some((cpu, rss)) = read_proc_self() {
            self.cpu_seconds.set(cpu);
            self.resident_bytes.set(rss as i64);
        }
    }
}

fn read_proc_self() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    let ticks = clock_ticks_per_second();
    let page_size = 4096;
    Some(((utime + stime) as f64 / ticks, rss_pages * page_size))
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture we ship for.
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_nonzero_rss_on_linux() {
        let metrics = SelfMetrics::new();
        ProcessMetrics::register(&metrics);
        let text = metrics.encode();
        let rss_line = text
            .lines()
            .find(|l| l.starts_with("sentinel_process_resident_memory_bytes "))
            .expect("rss series exported");
        let rss: f64 = rss_line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(
            rss > 1_000_000.0,
            "a test process uses more than 1 MB: {rss}"
        );
    }
}
