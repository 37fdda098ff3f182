//! `process` scraper: one resource per process with CPU, memory, disk I/O, threads and
//! file descriptors. Identity (name, executable, command line, owner) and the filter
//! decision are read once per process and cached by (pid, start time), so a scrape of 300
//! processes costs about one `stat` read each, plus `io` and `fd` for those reported.

mod config;
mod filter;
mod read;
mod redact;

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;

use super::config::{Enabled, MetricCatalog};
use super::errors::ScrapeErrors;
use super::processes::{walked_state, WALKED_STATES};
use super::root::{clock_ticks_per_second, kv_bytes, page_size, Root};
use crate::receivers::scrape::build::{attr, gauge, point, sum, Number};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};

pub use config::ProcessConfig;
use filter::Filter;
pub use filter::{TopBy, TopN};
use read::{parse_io, parse_passwd, parse_stat, Io, Stat};
pub use redact::Redactor;

pub const METRICS: MetricCatalog = &[
    ("process.cpu.time", true),
    ("process.cpu.utilization", false),
    ("process.memory.usage", true),
    ("process.memory.virtual", true),
    ("process.memory.utilization", false),
    ("process.disk.io", true),
    ("process.disk.operations", false),
    ("process.threads", false),
    ("process.open_file_descriptors", false),
    ("process.paging.faults", false),
];

/// What is read once per process.
struct Identity {
    start_ticks: u64,
    wanted: bool,
    attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
    /// CPU ticks and time at the previous scrape, for utilization and top-N by CPU.
    last_cpu_ticks: u64,
    last_seen_nano: u64,
}

/// One process selected in this scrape.
struct Row {
    pid: i32,
    stat: Stat,
    cpu_delta_ticks: u64,
    elapsed_nano: u64,
}

pub struct ProcessScraper {
    enabled: Enabled,
    filter: Filter,
    top_n: Option<TopN>,
    redactor: Option<Redactor>,
    max_processes: usize,
    /// `scrape_process_delay` in ns: younger processes are left out.
    min_age_nano: u64,
    known: HashMap<i32, Identity>,
    users: HashMap<u32, String>,
    users_loaded_at: u64,
    ticks: f64,
    page: u64,
    cpus: Option<f64>,
    buf: String,
    /// Per-status counts of this scrape's walk, handed to the processes scraper.
    states: [u64; WALKED_STATES.len()],
    saw_every_process: bool,
}

impl ProcessScraper {
    pub fn new(enabled: Enabled, config: &ProcessConfig) -> Result<ProcessScraper, String> {
        Ok(ProcessScraper {
            enabled,
            filter: Filter::new(&config.include, &config.exclude)?,
            top_n: config.top_n.clone(),
            redactor: config
                .redact_command_line
                .then(|| Redactor::new(&config.secret_words)),
            max_processes: config.max_processes,
            min_age_nano: config.scrape_process_delay.as_nanos() as u64,
            known: HashMap::new(),
            users: HashMap::new(),
            users_loaded_at: 0,
            ticks: clock_ticks_per_second(),
            page: page_size(),
            cpus: None,
            buf: String::new(),
            states: [0; WALKED_STATES.len()],
            saw_every_process: false,
        })
    }

    /// Processes per `WALKED_STATES` status in the last scrape, when it read every
    /// process's stat (not cut short by `max_processes` or an error).
    pub fn state_counts(&self) -> Option<[u64; WALKED_STATES.len()]> {
        self.saw_every_process.then_some(self.states)
    }

    /// One resource per reported process.
    pub fn scrape(
        &mut self,
        root: &Root,
        now: u64,
        boot: u64,
        errors: &mut ScrapeErrors,
    ) -> io::Result<Vec<ResourceMetrics>> {
        if self.cpus.is_none() {
            let stat = root.read("proc/stat")?;
            self.cpus = Some(super::cpu::parse_per_cpu(&stat).len().max(1) as f64);
        }
        self.states = [0; WALKED_STATES.len()];
        self.saw_every_process = false;
        let mut rows = Vec::new();
        for entry in std::fs::read_dir(root.join("proc"))? {
            let Some(pid) = entry
                .ok()
                .and_then(|e| e.file_name().to_str()?.parse::<i32>().ok())
            else {
                continue;
            };
            if rows.len() >= self.max_processes {
                errors.record(
                    "process",
                    "max_processes_reached",
                    &format!(
                        "more than {} processes; the rest are not reported",
                        self.max_processes
                    ),
                );
                return Ok(self.report(root, rows, now, boot, errors));
            }
            if let Some(row) = self.sample(root, pid, now, boot, errors) {
                rows.push(row);
            }
        }
        self.saw_every_process = true;
        Ok(self.report(root, rows, now, boot, errors))
    }

    /// Top-N, then one resource per selected process.
    fn report(
        &mut self,
        root: &Root,
        mut rows: Vec<Row>,
        now: u64,
        boot: u64,
        errors: &mut ScrapeErrors,
    ) -> Vec<ResourceMetrics> {
        // Forget processes that are gone, so the cache is bounded by live processes.
        self.known
            .retain(|_, identity| identity.last_seen_nano == now);
        if let Some(top) = &self.top_n {
            match top.by {
                TopBy::Cpu => rows.sort_by_key(|r| std::cmp::Reverse(r.cpu_delta_ticks)),
                TopBy::Memory => rows.sort_by_key(|r| std::cmp::Reverse(r.stat.rss_pages)),
            }
            rows.truncate(top.count);
        }
        let mem_total = if self.enabled.on("process.memory.utilization") {
            root.read("proc/meminfo")
                .ok()
                .and_then(|m| kv_bytes(&m, "MemTotal"))
        } else {
            None
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let metrics = self.metrics(root, &row, now, boot, mem_total, errors);
            let attributes = self
                .known
                .get(&row.pid)
                .map(|i| i.attributes.clone())
                .unwrap_or_default();
            out.push(super::resource(attributes, metrics));
        }
        out
    }

    /// Reads `stat`, and the identity for a process not seen before. `None` for kernel
    /// threads, filtered-out processes, processes younger than `scrape_process_delay`, and
    /// processes that exited meanwhile.
    fn sample(
        &mut self,
        root: &Root,
        pid: i32,
        now: u64,
        boot: u64,
        errors: &mut ScrapeErrors,
    ) -> Option<Row> {
        if let Err(err) = root.read_into(&format!("proc/{pid}/stat"), &mut self.buf) {
            count(errors, "stat", &err);
            return None;
        }
        let stat = parse_stat(&self.buf)?;
        // Every process counts toward its status, kernel threads and filtered ones too.
        if let Some(i) = u8::try_from(stat.state).ok().and_then(walked_state) {
            self.states[i] += 1;
        }
        if stat.is_kernel_thread() {
            return None;
        }
        if self.min_age_nano > 0 {
            let started = boot + (stat.start_ticks as f64 / self.ticks * 1e9) as u64;
            if now.saturating_sub(started) < self.min_age_nano {
                return None;
            }
        }
        let cpu_ticks = stat.utime_ticks + stat.stime_ticks;
        let fresh = self
            .known
            .get(&pid)
            .is_none_or(|i| i.start_ticks != stat.start_ticks);
        if fresh {
            let identity = self.identify(root, pid, &stat, cpu_ticks, now, errors);
            self.known.insert(pid, identity);
        }
        let identity = self.known.get_mut(&pid)?;
        let (last_ticks, last_seen) = (identity.last_cpu_ticks, identity.last_seen_nano);
        identity.last_cpu_ticks = cpu_ticks;
        identity.last_seen_nano = now;
        if !identity.wanted {
            return None;
        }
        Some(Row {
            pid,
            cpu_delta_ticks: if fresh {
                cpu_ticks
            } else {
                cpu_ticks.saturating_sub(last_ticks)
            },
            elapsed_nano: if fresh {
                0
            } else {
                now.saturating_sub(last_seen)
            },
            stat,
        })
    }

    fn identify(
        &mut self,
        root: &Root,
        pid: i32,
        stat: &Stat,
        cpu_ticks: u64,
        now: u64,
        errors: &mut ScrapeErrors,
    ) -> Identity {
        let args: Vec<String> = match std::fs::read(root.join(&format!("proc/{pid}/cmdline"))) {
            Ok(raw) => raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            Err(err) => {
                count(errors, "cmdline", &err);
                Vec::new()
            }
        };
        let exe_path = match std::fs::read_link(root.join(&format!("proc/{pid}/exe"))) {
            Ok(path) => Some(
                path.to_string_lossy()
                    .trim_end_matches(" (deleted)")
                    .to_string(),
            ),
            Err(err) => {
                count(errors, "exe", &err);
                None
            }
        };
        let name = exe_path
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| stat.comm.clone());
        let command_line = match &self.redactor {
            Some(r) => r.redact(args.iter().map(String::as_str)),
            None => args.join(" "),
        };
        // The filter sees the command line as reported, so secrets never reach a regex match log.
        let wanted = self.filter.wants(&name, &command_line);
        let mut attributes = Vec::new();
        if wanted {
            attributes.push(attr("process.pid", pid as i64));
            attributes.push(attr("process.parent_pid", stat.ppid));
            attributes.push(attr("process.executable.name", name.as_str()));
            if let Some(path) = exe_path {
                attributes.push(attr("process.executable.path", path));
            }
            if let Some(command) = args.first() {
                attributes.push(attr("process.command", command.as_str()));
            }
            attributes.push(attr("process.command_line", command_line));
            if let Some(owner) = self.owner(root, pid, now) {
                attributes.push(attr("process.owner", owner));
            }
        }
        Identity {
            start_ticks: stat.start_ticks,
            wanted,
            attributes,
            last_cpu_ticks: cpu_ticks,
            last_seen_nano: now,
        }
    }

    /// The user name owning `/proc/<pid>`, from the host's `/etc/passwd` (re-read at most
    /// once a minute when an unknown uid shows up), else the numeric uid.
    fn owner(&mut self, root: &Root, pid: i32, now: u64) -> Option<String> {
        let uid = std::fs::metadata(root.join(&format!("proc/{pid}")))
            .ok()?
            .uid();
        if !self.users.contains_key(&uid)
            && now.saturating_sub(self.users_loaded_at) > 60_000_000_000
        {
            self.users = root
                .read("etc/passwd")
                .map(|t| parse_passwd(&t))
                .unwrap_or_default();
            self.users_loaded_at = now;
        }
        Some(
            self.users
                .get(&uid)
                .cloned()
                .unwrap_or_else(|| uid.to_string()),
        )
    }

    fn metrics(
        &mut self,
        root: &Root,
        row: &Row,
        now: u64,
        boot: u64,
        mem_total: Option<u64>,
        errors: &mut ScrapeErrors,
    ) -> Vec<Metric> {
        let enabled = self.enabled.clone();
        let on = |name| enabled.on(name);
        let start = boot + (row.stat.start_ticks as f64 / self.ticks * 1e9) as u64;
        let int = |v: u64| Number::Int(v as i64);
        let one = |v: Number| vec![point(start, now, v, vec![])];
        let pair = |key: &str, a: (&str, Number), b: (&str, Number)| {
            vec![
                point(start, now, a.1, vec![attr(key, a.0)]),
                point(start, now, b.1, vec![attr(key, b.0)]),
            ]
        };
        let s = &row.stat;
        let rss = s.rss_pages * self.page;
        let mut out = Vec::new();
        if on("process.cpu.time") {
            out.push(sum(
                "process.cpu.time",
                "CPU seconds of the process, by mode",
                "s",
                true,
                pair(
                    "cpu.mode",
                    ("user", Number::Double(s.utime_ticks as f64 / self.ticks)),
                    ("system", Number::Double(s.stime_ticks as f64 / self.ticks)),
                ),
            ));
        }
        if on("process.cpu.utilization") && row.elapsed_nano > 0 {
            let share = row.cpu_delta_ticks as f64
                / self.ticks
                / (row.elapsed_nano as f64 / 1e9)
                / self.cpus.unwrap_or(1.0);
            out.push(gauge(
                "process.cpu.utilization",
                "Share of all CPUs the process used since the last scrape",
                "1",
                vec![point(0, now, Number::Double(share), vec![])],
            ));
        }
        if on("process.memory.usage") {
            out.push(sum(
                "process.memory.usage",
                "Resident set size",
                "By",
                false,
                one(int(rss)),
            ));
        }
        if on("process.memory.virtual") {
            out.push(sum(
                "process.memory.virtual",
                "Virtual memory size",
                "By",
                false,
                one(int(s.vsize_bytes)),
            ));
        }
        if let Some(total) = mem_total.filter(|t| *t > 0) {
            out.push(gauge(
                "process.memory.utilization",
                "RSS as a share of physical memory",
                "1",
                vec![point(
                    0,
                    now,
                    Number::Double(rss as f64 / total as f64),
                    vec![],
                )],
            ));
        }
        if on("process.threads") {
            out.push(sum(
                "process.threads",
                "Threads in the process",
                "{thread}",
                false,
                one(Number::Int(s.threads)),
            ));
        }
        if on("process.paging.faults") {
            out.push(sum(
                "process.paging.faults",
                "Page faults",
                "{fault}",
                true,
                pair(
                    "system.paging.type",
                    ("major", int(s.major_faults)),
                    ("minor", int(s.minor_faults)),
                ),
            ));
        }
        if on("process.disk.io") || on("process.disk.operations") {
            if let Some(io) = self.read_io(root, row.pid, errors) {
                if on("process.disk.io") {
                    out.push(sum(
                        "process.disk.io",
                        "Bytes read from and written to storage",
                        "By",
                        true,
                        pair(
                            "disk.io.direction",
                            ("read", int(io.read_bytes)),
                            ("write", int(io.write_bytes)),
                        ),
                    ));
                }
                if on("process.disk.operations") {
                    out.push(sum(
                        "process.disk.operations",
                        "Read and write system calls",
                        "{operation}",
                        true,
                        pair(
                            "disk.io.direction",
                            ("read", int(io.syscr)),
                            ("write", int(io.syscw)),
                        ),
                    ));
                }
            }
        }
        if on("process.open_file_descriptors") {
            match std::fs::read_dir(root.join(&format!("proc/{}/fd", row.pid))) {
                Ok(dir) => out.push(sum(
                    "process.open_file_descriptors",
                    "Open file descriptors",
                    "{file_descriptor}",
                    false,
                    one(int(dir.count() as u64)),
                )),
                Err(err) => count(errors, "fd", &err),
            }
        }
        out
    }

    fn read_io(&mut self, root: &Root, pid: i32, errors: &mut ScrapeErrors) -> Option<Io> {
        match root.read_into(&format!("proc/{pid}/io"), &mut self.buf) {
            Ok(()) => {
                let io = parse_io(&self.buf);
                if io.is_none() {
                    let err = super::root::invalid(format!("proc/{pid}/io lacks a field"));
                    count(errors, "io", &err);
                }
                io
            }
            Err(err) => {
                count(errors, "io", &err);
                None
            }
        }
    }
}

/// Counts a failed per-process read. A process that exited between listing and reading
/// (`ENOENT`, `ESRCH`) is normal churn, not an error.
fn count(errors: &mut ScrapeErrors, file: &'static str, err: &io::Error) {
    if err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ESRCH) {
        return;
    }
    let cause = match err.kind() {
        io::ErrorKind::PermissionDenied => format!("{file}_permission_denied"),
        _ => format!("{file}_unreadable"),
    };
    let hint = if err.kind() == io::ErrorKind::PermissionDenied {
        "reading other users' processes needs root or CAP_SYS_PTRACE / CAP_DAC_READ_SEARCH"
    } else {
        ""
    };
    errors.record(
        "process",
        &cause,
        &format_args!("/proc/<pid>/{file}: {err}. {hint}"),
    );
}
