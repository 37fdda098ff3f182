//! What every scraper shares for one round: the [`Scraper`] trait, the [`Sample`] it
//! reads from, the [`Out`] it writes to, and the resource the metrics are wrapped in.

use std::io;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};

use super::errors::ScrapeErrors;
use super::root::Root;
use crate::receivers::scrape::build::resource_metrics;

/// One scraper of the table (`table.rs`), with its state between rounds.
pub trait Scraper: Send {
    /// One round: host-level metrics go to `out.push`, per-process resources to
    /// `out.resources`. An `Err` is counted and logged once per cause; what was pushed
    /// before it is still reported.
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()>;

    /// Prefixes of this scraper's failure causes that are counted but not logged.
    fn muted_causes(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// What every scraper reads in one round.
pub struct Sample<'a> {
    pub root: &'a Root,
    pub now: u64,
    /// Start time of cumulative host counters (boot time).
    pub boot: u64,
}

/// What the scrapers of one round produce.
pub struct Out<'a> {
    /// Host-level metrics, sharing the host resource.
    pub metrics: Vec<Metric>,
    /// Resources of their own (one per process).
    pub resources: Vec<ResourceMetrics>,
    /// Partial failures (one unreadable process file) that do not fail the scraper.
    pub errors: &'a mut ScrapeErrors,
    /// Processes per walked status, counted by this round's process scraper when it saw
    /// every process; the processes scraper, which runs after it, then needs no walk.
    pub process_states: Option<ProcessStates>,
}

impl Out<'_> {
    pub fn push(&mut self, metric: Metric) {
        self.metrics.push(metric);
    }
}

/// `system.process.status` values counted from `/proc/<pid>/stat`, by state letter.
/// `R` and `D` are left to `/proc/stat`; paging (`W`) and dead (`X`) are transient.
pub const WALKED_STATES: [(&str, &[u8]); 4] = [
    ("sleeping", b"S"),
    ("idle", b"I"),
    ("stopped", b"Tt"),
    ("defunct", b"Z"),
];

/// Processes per `WALKED_STATES` status.
pub type ProcessStates = [u64; WALKED_STATES.len()];

/// The index in `WALKED_STATES` of a process state letter, if it is counted there.
pub fn walked_state(letter: u8) -> Option<usize> {
    WALKED_STATES.iter().position(|(_, l)| l.contains(&letter))
}

/// Wraps metrics in a resource with the receiver's scope.
pub fn resource(attributes: Vec<KeyValue>, metrics: Vec<Metric>) -> ResourceMetrics {
    resource_metrics(attributes, "sentinel/hostmetrics", metrics)
}
