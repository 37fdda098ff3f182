//! `process` scraper: one resource per process with CPU, memory, disk I/O, threads and
//! file descriptors. Identity (name, executable, command line, owner) and the filter
//! decision are read once per process and cached by (pid, start time), so a scrape of 300
//! processes costs about one `stat` read each, plus `io` and `fd` for those reported.

mod config;
mod filter;
mod metrics;
mod read;
mod redact;

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;

use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::errors::ScrapeErrors;
use super::matching::PatternError;
use super::root::{clock_ticks_per_second, invalid, kv_bytes, page_size, parse_per_cpu, Root};
use super::scraper::{resource, walked_state, Out, ProcessStates, Sample, Scraper, WALKED_STATES};
use super::switches::{Enabled, MetricCatalog};
use crate::receivers::scrape::build::attr;

pub use config::ProcessConfig;
use filter::Filter;
pub use filter::{TopBy, TopN};
use metrics::{Figures, Scale};
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
    attributes: Vec<KeyValue>,
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

/// What identifies a process, read from `/proc/<pid>/` once.
struct Names {
    args: Vec<String>,
    exe_path: Option<String>,
    /// The executable's file name, else `comm`.
    name: String,
}

pub struct ProcessScraper {
    enabled: Enabled,
    filter: Filter,
    top_n: Option<TopN>,
    redactor: Option<Redactor>,
    max_processes: usize,
    /// `scrape_process_delay` in ns: younger processes are left out.
    min_age_nano: u64,
    muted_causes: Vec<&'static str>,
    known: HashMap<i32, Identity>,
    users: HashMap<u32, String>,
    users_loaded_at: u64,
    ticks: f64,
    page: u64,
    cpus: Option<f64>,
    buf: String,
    /// Per-status counts of this scrape's walk, handed to the processes scraper.
    states: ProcessStates,
}

impl Scraper for ProcessScraper {
    /// One resource per reported process.
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        if self.cpus.is_none() {
            let stat = s.root.read("proc/stat")?;
            self.cpus = Some(parse_per_cpu(&stat).len().max(1) as f64);
        }
        let (rows, saw_every_process) = self.walk(s, out.errors)?;
        if saw_every_process {
            out.process_states = Some(self.states);
        }
        self.report(s, rows, out);
        Ok(())
    }

    fn muted_causes(&self) -> Vec<&'static str> {
        self.muted_causes.clone()
    }
}

impl ProcessScraper {
    pub fn new(enabled: Enabled, config: &ProcessConfig) -> Result<ProcessScraper, PatternError> {
        Ok(ProcessScraper {
            enabled,
            filter: Filter::new(&config.include, &config.exclude)?,
            top_n: config.top_n.clone(),
            redactor: config
                .redact_command_line
                .then(|| Redactor::new(&config.secret_words)),
            max_processes: config.max_processes,
            min_age_nano: config.scrape_process_delay.as_nanos() as u64,
            muted_causes: config.muted_causes(),
            known: HashMap::new(),
            users: HashMap::new(),
            users_loaded_at: 0,
            ticks: clock_ticks_per_second(),
            page: page_size(),
            cpus: None,
            buf: String::new(),
            states: [0; WALKED_STATES.len()],
        })
    }

    /// Reads every process's `stat`, counting statuses; the selected processes, and
    /// whether every process was seen (not cut short by `max_processes`).
    fn walk(&mut self, s: &Sample, errors: &mut ScrapeErrors) -> io::Result<(Vec<Row>, bool)> {
        self.states = [0; WALKED_STATES.len()];
        let mut rows = Vec::new();
        for entry in std::fs::read_dir(s.root.join("proc"))? {
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
                return Ok((rows, false));
            }
            if let Some(row) = self.sample(s, pid, errors) {
                rows.push(row);
            }
        }
        Ok((rows, true))
    }

    /// Top-N, then one resource per selected process.
    fn report(&mut self, s: &Sample, mut rows: Vec<Row>, out: &mut Out) {
        // Forget processes that are gone, so the cache is bounded by live processes.
        self.known
            .retain(|_, identity| identity.last_seen_nano == s.now);
        if let Some(top) = &self.top_n {
            match top.by {
                TopBy::Cpu => rows.sort_by_key(|r| std::cmp::Reverse(r.cpu_delta_ticks)),
                TopBy::Memory => rows.sort_by_key(|r| std::cmp::Reverse(r.stat.rss_pages)),
            }
            rows.truncate(top.count);
        }
        let mem_total = if self.enabled.on("process.memory.utilization") {
            s.root
                .read("proc/meminfo")
                .ok()
                .and_then(|m| kv_bytes(&m, "MemTotal"))
        } else {
            None
        };
        let scale = Scale {
            ticks_per_second: self.ticks,
            page_bytes: self.page,
            cpus: self.cpus.unwrap_or(1.0),
        };
        out.resources.reserve(rows.len());
        for row in rows {
            let figures = self.figures(s, &row, mem_total, out.errors);
            let metrics = metrics::metrics(&self.enabled, &scale, &figures);
            let attributes = self
                .known
                .get(&row.pid)
                .map(|i| i.attributes.clone())
                .unwrap_or_default();
            out.resources.push(resource(attributes, metrics));
        }
    }

    /// `row`'s figures, with the `io` and `fd` reads the enabled metrics need.
    fn figures<'a>(
        &mut self,
        s: &Sample,
        row: &'a Row,
        mem_total: Option<u64>,
        errors: &mut ScrapeErrors,
    ) -> Figures<'a> {
        let wants_io =
            self.enabled.on("process.disk.io") || self.enabled.on("process.disk.operations");
        let io = if wants_io {
            self.read_io(s.root, row.pid, errors)
        } else {
            None
        };
        let open_fds = if self.enabled.on("process.open_file_descriptors") {
            match std::fs::read_dir(s.root.join(&format!("proc/{}/fd", row.pid))) {
                Ok(dir) => Some(dir.count() as u64),
                Err(err) => {
                    count(errors, "fd", &err);
                    None
                }
            }
        } else {
            None
        };
        Figures {
            stat: &row.stat,
            start: self.started_at(s, &row.stat),
            now: s.now,
            cpu_delta_ticks: row.cpu_delta_ticks,
            elapsed_nano: row.elapsed_nano,
            mem_total,
            io,
            open_fds,
        }
    }

    /// When the process started, in ns since the epoch.
    fn started_at(&self, s: &Sample, stat: &Stat) -> u64 {
        s.boot + (stat.start_ticks as f64 / self.ticks * 1e9) as u64
    }

    /// Reads `stat`, and the identity for a process not seen before. `None` for kernel
    /// threads, filtered-out processes, processes younger than `scrape_process_delay`, and
    /// processes that exited meanwhile.
    fn sample(&mut self, s: &Sample, pid: i32, errors: &mut ScrapeErrors) -> Option<Row> {
        if let Err(err) = s.root.read_into(&format!("proc/{pid}/stat"), &mut self.buf) {
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
        if self.min_age_nano > 0
            && s.now.saturating_sub(self.started_at(s, &stat)) < self.min_age_nano
        {
            return None;
        }
        let cpu_ticks = stat.utime_ticks + stat.stime_ticks;
        let fresh = self
            .known
            .get(&pid)
            .is_none_or(|i| i.start_ticks != stat.start_ticks);
        if fresh {
            let identity = self.identify(s, pid, &stat, cpu_ticks, errors);
            self.known.insert(pid, identity);
        }
        let identity = self.known.get_mut(&pid)?;
        let (last_ticks, last_seen) = (identity.last_cpu_ticks, identity.last_seen_nano);
        identity.last_cpu_ticks = cpu_ticks;
        identity.last_seen_nano = s.now;
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
                s.now.saturating_sub(last_seen)
            },
            stat,
        })
    }

    /// A process seen for the first time: its names, the filter decision, and the
    /// resource attributes of a wanted one.
    fn identify(
        &mut self,
        s: &Sample,
        pid: i32,
        stat: &Stat,
        cpu_ticks: u64,
        errors: &mut ScrapeErrors,
    ) -> Identity {
        let names = read_names(s.root, pid, stat, errors);
        let command_line = match &self.redactor {
            Some(r) => r.redact(names.args.iter().map(String::as_str)),
            None => names.args.join(" "),
        };
        // The filter sees the command line as reported, so secrets never reach a regex match log.
        let wanted = self.filter.wants(&names.name, &command_line);
        let attributes = if wanted {
            let owner = self.owner(s.root, pid, s.now);
            attributes(pid, stat, names, command_line, owner)
        } else {
            Vec::new()
        };
        Identity {
            start_ticks: stat.start_ticks,
            wanted,
            attributes,
            last_cpu_ticks: cpu_ticks,
            last_seen_nano: s.now,
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

    fn read_io(&mut self, root: &Root, pid: i32, errors: &mut ScrapeErrors) -> Option<Io> {
        match root.read_into(&format!("proc/{pid}/io"), &mut self.buf) {
            Ok(()) => {
                let io = parse_io(&self.buf);
                if io.is_none() {
                    let err = invalid(format!("proc/{pid}/io lacks a field"));
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

/// The command line and executable of `pid`; an unreadable one is counted and left out.
fn read_names(root: &Root, pid: i32, stat: &Stat, errors: &mut ScrapeErrors) -> Names {
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
    Names {
        args,
        exe_path,
        name,
    }
}

/// The resource attributes of a reported process.
fn attributes(
    pid: i32,
    stat: &Stat,
    names: Names,
    command_line: String,
    owner: Option<String>,
) -> Vec<KeyValue> {
    let mut attributes = vec![
        attr("process.pid", pid as i64),
        attr("process.parent_pid", stat.ppid),
        attr("process.executable.name", names.name),
    ];
    if let Some(path) = names.exe_path {
        attributes.push(attr("process.executable.path", path));
    }
    if let Some(command) = names.args.into_iter().next() {
        attributes.push(attr("process.command", command));
    }
    attributes.push(attr("process.command_line", command_line));
    if let Some(owner) = owner {
        attributes.push(attr("process.owner", owner));
    }
    attributes
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
        super::container::own_denial_hint()
    } else {
        ""
    };
    errors.record(
        "process",
        &cause,
        &format_args!("/proc/<pid>/{file}: {err}. {hint}"),
    );
}
