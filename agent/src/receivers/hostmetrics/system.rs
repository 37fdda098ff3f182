//! `system` scraper: `system.uptime` from `/proc/uptime`.

use std::io;

use opentelemetry_proto::tonic::metrics::v1::Metric;

use super::config::{Enabled, MetricCatalog};
use super::root::invalid;
use super::{HostScraper, Sample};
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

impl HostScraper for SystemScraper {
    fn name(&self) -> &'static str {
        "system"
    }

    fn scrape(&mut self, s: &Sample, out: &mut Vec<Metric>) -> io::Result<()> {
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
