//! `load` scraper: `/proc/loadavg`.

use std::io;

use super::root::invalid;
use super::scraper::{Out, Sample, Scraper};
use super::switches::{Enabled, MetricCatalog};
use crate::receivers::scrape::build::{gauge, point, Number};

pub const METRICS: MetricCatalog = &[
    ("system.cpu.load_average.1m", true),
    ("system.cpu.load_average.5m", true),
    ("system.cpu.load_average.15m", true),
];

pub struct LoadScraper {
    enabled: Enabled,
}

impl LoadScraper {
    pub fn new(enabled: Enabled) -> LoadScraper {
        LoadScraper { enabled }
    }
}

impl Scraper for LoadScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        // By hand rather than procfs-core's `LoadAverage`, which reads the averages as f32:
        // the kernel's 0.33 would be reported as 0.33000001311302185 (and it took 72 ns
        // and one allocation a parse, against 30 ns and none).
        let text = s.root.read("proc/loadavg")?;
        let mut fields = text.split_whitespace().map(|f| f.parse::<f64>());
        for (name, _) in METRICS {
            let value = fields
                .next()
                .and_then(|v| v.ok())
                .ok_or_else(|| invalid("proc/loadavg is malformed"))?;
            if self.enabled.on(name) {
                out.push(gauge(
                    name,
                    "Average number of runnable or uninterruptible threads",
                    "{thread}",
                    vec![point(0, s.now, Number::Double(value), vec![])],
                ));
            }
        }
        Ok(())
    }
}
