//! `scrapers.process`: the Collector's process-scraper keys plus Sentinel's redaction,
//! top-N and bound.

use std::time::Duration;

use sentinel_pipeline::config::ValidationError;
use serde::{Deserialize, Serialize};

use super::super::switches::MetricSwitches;
use super::filter::{Filter, MatchConfig, TopN};

/// `scrapers.process`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Switch single metrics on or off (defaults as the Collector: threads, open file
    /// descriptors, utilization, disk operations and faults are off).
    pub metrics: MetricSwitches,
    /// Report only processes matching these (all processes when empty).
    pub include: MatchConfig,
    /// Never report processes matching these.
    pub exclude: MatchConfig,
    /// Report only the N busiest processes, by `cpu` or `memory`, after include/exclude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_n: Option<TopN>,
    /// Replace secrets in `process.command_line` (`--password=…`, `--token …`,
    /// `PASSWORD=…`, URL passwords) with `***`. Default true.
    pub redact_command_line: bool,
    /// More words that mark a flag or variable as secret, besides password, passwd, pwd,
    /// secret, token, api key, credential, private key and auth.
    pub secret_words: Vec<String>,
    /// Upper bound on processes tracked per scrape, to bound memory. Default 10000.
    pub max_processes: usize,
    /// Leave out processes younger than this, e.g. `10s`, so short-lived commands do not
    /// each become a series. Default `0s` (report every process).
    #[serde(with = "humantime_serde")]
    pub scrape_process_delay: Duration,
    /// The Collector's log switches. A muted failure is still counted in
    /// `sentinel_receiver_scrape_errors_total`; only its one log line is left out.
    /// `name`: unreadable `stat` or `cmdline`.
    pub mute_process_name_error: bool,
    /// Unreadable `/proc/<pid>/exe` (other users' processes without `CAP_SYS_PTRACE`).
    pub mute_process_exe_error: bool,
    /// Unreadable `/proc/<pid>/io`.
    pub mute_process_io_error: bool,
    /// Accepted for Collector configs; Sentinel has no such failure: an owner missing
    /// from `/etc/passwd` is reported by uid.
    pub mute_process_user_error: bool,
    /// Accepted for Collector configs; Sentinel reads no per-process cgroup.
    pub mute_process_cgroup_error: bool,
    /// Every process-scraper failure, `fd` and `max_processes_reached` included.
    pub mute_process_all_errors: bool,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            metrics: MetricSwitches::default(),
            include: MatchConfig::default(),
            exclude: MatchConfig::default(),
            top_n: None,
            redact_command_line: true,
            secret_words: Vec::new(),
            max_processes: 10_000,
            scrape_process_delay: Duration::ZERO,
            mute_process_name_error: false,
            mute_process_exe_error: false,
            mute_process_io_error: false,
            mute_process_user_error: false,
            mute_process_cgroup_error: false,
            mute_process_all_errors: false,
        }
    }
}

impl ProcessConfig {
    /// Paths are from the hostmetrics component's node, like every other scraper's.
    pub fn validate(&self) -> Result<(), ValidationError> {
        Filter::new(&self.include, &self.exclude)
            .map_err(|e| ValidationError::at("scrapers.process", e.to_string()))?;
        if self.top_n.as_ref().is_some_and(|t| t.count == 0) {
            return Err(ValidationError::new(
                "scrapers.process.top_n.count must be at least 1",
            ));
        }
        if self.max_processes == 0 {
            return Err(ValidationError::new(
                "scrapers.process.max_processes must be at least 1",
            ));
        }
        Ok(())
    }

    /// Prefixes of the process-scraper causes whose log line is muted (`""` mutes all).
    pub fn muted_causes(&self) -> Vec<&'static str> {
        if self.mute_process_all_errors {
            return vec![""];
        }
        [
            (self.mute_process_name_error, &["stat_", "cmdline_"][..]),
            (self.mute_process_exe_error, &["exe_"][..]),
            (self.mute_process_io_error, &["io_"][..]),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .flat_map(|(_, causes)| causes.iter().copied())
        .collect()
    }
}
