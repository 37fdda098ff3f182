//! `processes` scraper: process counts by status and processes created. As in the
//! Collector, `running` and `blocked` come from `/proc/stat` (one consistent read, counting
//! runnable and uninterruptible tasks); the other states are counted from each
//! `/proc/<pid>/stat`, a walk that costs about 10 µs a process.

use std::io;

use super::root::{invalid, kv_space};
use super::scraper::{walked_state, Out, ProcessStates, Sample, Scraper, WALKED_STATES};
use super::switches::{Enabled, MetricCatalog};
use crate::receivers::scrape::build::{attr, point, sum, Number};

pub const METRICS: MetricCatalog = &[
    ("system.processes.count", true),
    ("system.processes.created", true),
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
    fn count_walked_states(&mut self, s: &Sample) -> io::Result<ProcessStates> {
        let mut counts = [0u64; WALKED_STATES.len()];
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

/// The state letter of a `/proc/<pid>/stat` line: the first field after the last `)`,
/// since the command name in parentheses may itself hold spaces and parentheses.
pub fn stat_state(stat: &str) -> Option<u8> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    after.trim_start().bytes().next()
}

impl Scraper for ProcessesScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        let walked = match out.process_states {
            _ if !self.enabled.on("system.processes.count") => [0; WALKED_STATES.len()],
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
