//! A small file saying how many spans the sampler holds, so that after a crash the next
//! start can say what was lost. Spans are acknowledged once held (a client must not wait
//! `decision_wait`), so a kill loses what was pending; this makes that loss visible.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How often the ledger is rewritten while the pending count changes: what a crash is
/// reported to have lost is at most this old.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// What the previous run held when it stopped without its clean shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lost {
    pub spans: u64,
    pub traces: u64,
}

pub struct Ledger {
    /// `None` when the file cannot be written; the sampler then runs without it.
    path: Option<PathBuf>,
    written: (usize, usize),
    written_at: Option<Instant>,
    /// Counts recorded but not yet written (the interval was not up).
    unwritten: bool,
}

/// Builds of each id in this process: the same `tail_sampling` id in two pipelines is two
/// samplers, each with its own ledger, numbered in config order.
static INSTANCES: Mutex<Option<HashMap<(PathBuf, String), usize>>> = Mutex::new(None);

fn file_name(data_dir: &Path, id: &str) -> PathBuf {
    let instance = {
        let mut guard = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
        let counts = guard.get_or_insert_with(HashMap::new);
        let count = counts
            .entry((data_dir.to_path_buf(), id.to_string()))
            .or_insert(0);
        *count += 1;
        *count - 1
    };
    let safe: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    data_dir
        .join("tail_sampling")
        .join(format!("{safe}.{instance}.pending"))
}

impl Ledger {
    /// Opens this sampler's ledger, returning what the previous run left pending, and
    /// marks the new run as holding nothing.
    pub fn open(data_dir: &Path, id: &str) -> (Ledger, Lost) {
        let path = file_name(data_dir, id);
        let lost = std::fs::read_to_string(&path)
            .map(|text| parse(&text))
            .unwrap_or_default();
        let mut ledger = Ledger {
            path: Some(path),
            written: (usize::MAX, usize::MAX),
            written_at: None,
            unwritten: false,
        };
        ledger.write(0, 0, None);
        (ledger, lost)
    }

    /// Records the pending counts, at most once per [`CHECKPOINT_INTERVAL`] unless they
    /// fall to zero.
    pub fn record(&mut self, spans: usize, traces: usize, now: Instant) {
        if (spans, traces) == self.written {
            self.unwritten = false;
            return;
        }
        let due = self
            .written_at
            .is_none_or(|at| now.duration_since(at) >= CHECKPOINT_INTERVAL);
        self.unwritten = !(due || spans == 0);
        if !self.unwritten {
            self.write(spans, traces, Some(now));
        }
    }

    /// When the counts recorded last must be written, if they are waiting.
    pub fn next_checkpoint(&self) -> Option<Instant> {
        if !self.unwritten || self.path.is_none() {
            return None;
        }
        self.written_at.map(|at| at + CHECKPOINT_INTERVAL)
    }

    fn write(&mut self, spans: usize, traces: usize, now: Option<Instant>) {
        let Some(path) = &self.path else {
            return;
        };
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, format!("spans={spans} traces={traces}\n")));
        match result {
            Ok(()) => {
                self.written = (spans, traces);
                self.written_at = now;
            }
            Err(err) => {
                tracing::warn!(
                    path = %path.display(),
                    error = %err,
                    "Cannot write the tail sampler's ledger; spans pending at a crash will \
                     not be reported on restart."
                );
                self.path = None;
            }
        }
    }
}

fn parse(text: &str) -> Lost {
    let mut lost = Lost::default();
    for field in text.split_whitespace() {
        match field.split_once('=') {
            Some(("spans", n)) => lost.spans = n.parse().unwrap_or(0),
            Some(("traces", n)) => lost.traces = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_killed_run_held_is_read_back_once() {
        let dir = sentinel_pipeline::testing::scratch_dir("ledger");
        let now = Instant::now();
        let (mut first, lost) = Ledger::open(&dir, "tail_sampling/a");
        assert_eq!(lost, Lost::default());
        first.record(120, 7, now);
        // Within the interval a change waits; the file still says 120.
        first.record(130, 8, now + Duration::from_millis(10));
        drop(first); // killed: no clean zero written
                     // A restart of the same config is instance 0 again only in a new process, so
                     // read the file the first instance wrote directly.
        let text =
            std::fs::read_to_string(dir.join("tail_sampling/tail_sampling_a.0.pending")).unwrap();
        assert_eq!(
            parse(&text),
            Lost {
                spans: 120,
                traces: 7
            }
        );
        let (mut second, lost) = Ledger::open(&dir, "tail_sampling/a");
        assert_eq!(lost, Lost::default(), "instance 1 has its own file");
        second.record(5, 1, now);
        second.record(0, 0, now + Duration::from_millis(1));
        let text =
            std::fs::read_to_string(dir.join("tail_sampling/tail_sampling_a.1.pending")).unwrap();
        assert_eq!(
            parse(&text),
            Lost::default(),
            "a drop to zero is written at once"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
