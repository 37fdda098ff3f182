//! `processes` scraper: process counts by status and processes created, from `/proc/stat`
//! (no walk over every `/proc/<pid>`, so it costs one read).

use std::io;

use opentelemetry_proto::tonic::metrics::v1::Metric;

use super::config::{Enabled, MetricCatalog};
use super::root::{invalid, kv_space};
use super::{HostScraper, Sample};
use crate::receivers::scrape::build::{attr, point, sum, Number};

pub const METRICS: MetricCatalog = &[
    ("system.processes.count", true),
    ("system.processes.created", true),
];

pub struct ProcessesScraper {
    enabled: Enabled,
    buf: String,
}

impl ProcessesScraper {
    pub fn new(enabled: Enabled) -> ProcessesScraper {
        ProcessesScraper {
            enabled,
            buf: String::new(),
        }
    }
}

impl HostScraper for ProcessesScraper {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn scrape(&mut self, s: &Sample, out: &mut Vec<Metric>) -> io::Result<()> {
        s.root.read_into("proc/stat", &mut self.buf)?;
        let field = |key| {
            kv_space(&self.buf, key).ok_or_else(|| invalid(format!("proc/stat has no {key} line")))
        };
        if self.enabled.on("system.processes.count") {
            let points = [
                ("running", field("procs_running")?),
                ("blocked", field("procs_blocked")?),
            ]
            .into_iter()
            .map(|(status, n)| {
                point(
                    s.boot,
                    s.now,
                    Number::Int(n as i64),
                    vec![attr("system.process.status", status)],
                )
            })
            .collect();
            out.push(sum(
                "system.processes.count",
                "Processes in each status",
                "{process}",
                false,
                points,
            ));
        }
        if self.enabled.on("system.processes.created") {
            out.push(sum(
                "system.processes.created",
                "Processes created since boot",
                "{process}",
                true,
                vec![point(
                    s.boot,
                    s.now,
                    Number::Int(field("processes")? as i64),
                    vec![],
                )],
            ));
        }
        Ok(())
    }
}
