//! `system` scraper: `system.uptime` from `/proc/uptime`.

use std::io;

use super::root::invalid;
use super::scraper::{Out, Sample, Scraper};
use super::switches::{Enabled, MetricCatalog};
use crate::receivers::scrape::build::{gauge, point, Number};

pub const METRICS: MetricCatalog = &[("system.uptime", true)];

pub struct SystemScraper {
    enabled: Enabled,
}

impl SystemScraper {
    pub fn new(enabled: Enabled) -> SystemScraper {
        SystemScraper { enabled }
    }
}

impl Scraper for SystemScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        if !self.enabled.on("system.uptime") {
            return Ok(());
        }
        let text = s.root.read("proc/uptime")?;
        let uptime: f64 = text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| invalid("proc/uptime is malformed"))?;
        out.push(gauge(
            "system.uptime",
            "Seconds since the host booted",
            "s",
            vec![point(0, s.now, Number::Double(uptime), vec![])],
        ));
        Ok(())
    }
}
