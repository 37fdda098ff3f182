//! `processes` scraper: process counts by status and processes created. As in the
//! Collector, `running` and `blocked` come from `/proc/stat` (one consistent read, counting
//! runnable and uninterruptible tasks); the other states are counted from each
//! `/proc/<pid>/stat`, a walk that costs about 10 µs a process.

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

/// `system.process.status` values counted from `/proc/<pid>/stat`, by state letter.
/// `R` and `D` are left to `/proc/stat`; paging (`W`) and dead (`X`) are transient.
pub const WALKED_STATES: [(&str, &[u8]); 4] = [
    ("sleeping", b"S"),
    ("idle", b"I"),
    ("stopped", b"Tt"),
    ("defunct", b"Z"),
];

pub struct ProcessesScraper {
    enabled: Enabled,
    buf: String,
    stat_buf: String,
}

impl ProcessesScraper {
    pub fn new(enabled: Enabled) -> ProcessesScraper {
        ProcessesScraper {
            enabled,
            buf: String::new(),
            stat_buf: String::new(),
        }
    }

    /// Processes in each of `WALKED_STATES`. A process that exits during the walk, or whose
    /// stat cannot be read, is not counted.
    fn count_walked_states(&mut self, s: &Sample) -> io::Result<[u64; 4]> {
        let mut counts = [0u64; 4];
        for entry in std::fs::read_dir(s.root.join("proc"))? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            if s.root
                .read_into(&format!("proc/{pid}/stat"), &mut self.stat_buf)
                .is_err()
            {
                continue;
            }
            if let Some(i) = stat_state(&self.stat_buf).and_then(walked_state) {
                counts[i] += 1;
            }
        }
        Ok(counts)
    }
}

/// The index in `WALKED_STATES` of a process state letter, if it is counted there.
pub fn walked_state(letter: u8) -> Option<usize> {
    WALKED_STATES.iter().position(|(_, l)| l.contains(&letter))
}

/// The state letter of a `/proc/<pid>/stat` line: the first field after the last `)`,
/// since the command name in parentheses may itself hold spaces and parentheses.
pub fn stat_state(stat: &str) -> Option<u8> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    after.trim_start().bytes().next()
}

impl HostScraper for ProcessesScraper {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn scrape(&mut self, s: &Sample, out: &mut Vec<Metric>) -> io::Result<()> {
        let walked = match s.process_states {
            _ if !self.enabled.on("system.processes.count") => [0; 4],
            Some(counted) => counted,
            None => self.count_walked_states(s)?,
        };
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
            .chain(WALKED_STATES.iter().map(|(status, _)| *status).zip(walked))
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
