//! The dead-letter file: data the sink will never take, kept for a person to look at.
//!
//! One JSON object per line: `{"time", "exporter", "signal", "reason", "payload"}`, where
//! `payload` is the export request in OTLP/JSON. The file is private (0600 in a 0700
//! directory) and capped: it rotates like the file exporter's output
//! (`sending_queue.dead_letter`), and what the cap deletes is counted.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use sentinel_pipeline::private_fs;
use sentinel_pipeline::sending::DeadLetterSettings;
use sentinel_pipeline::Payload;
use serde_json::json;

pub(crate) struct DeadLetters {
    path: PathBuf,
    exporter: String,
    settings: DeadLetterSettings,
    /// Requests deleted by rotation or too large to write.
    dropped: Counter,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Opened on first use, so queues that never dead-letter create no file.
    file: Option<File>,
    size: u64,
    /// The first loss to the cap was logged.
    warned: bool,
}

impl DeadLetters {
    pub fn new(
        path: PathBuf,
        exporter: &str,
        settings: DeadLetterSettings,
        dropped: Counter,
    ) -> Self {
        DeadLetters {
            path,
            exporter: exporter.to_string(),
            settings,
            dropped,
            state: Mutex::new(State::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line. Blocking: call from a blocking thread.
    pub fn write(&self, payload: &Payload, reason: &str) -> io::Result<()> {
        let mut line = serde_json::to_vec(&json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "exporter": self.exporter,
            "signal": payload.signal().as_str(),
            "reason": reason,
            "payload": otlp_json(payload)?,
        }))?;
        line.push(b'\n');
        let mut state = self
            .state
            .lock()
            .map_err(|_| io::Error::other("dead-letter file lock poisoned"))?;
        let max = self.settings.max_bytes();
        let len = line.len() as u64;
        if len > max {
            self.lost(&mut state, 1);
            return Err(io::Error::other(format!(
                "the request takes {len} bytes, more than sending_queue.dead_letter.max_megabytes"
            )));
        }
        if state.file.is_none() {
            self.open(&mut state)?;
        }
        if state.size > 0 && state.size + len > max {
            state.file = None;
            self.rotate(&mut state)?;
            self.open(&mut state)?;
        }
        let file = state
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("unreachable"))?;
        // One write per line, so concurrent writers never interleave within a line.
        file.write_all(&line)?;
        file.sync_data()?;
        state.size += len;
        Ok(())
    }

    fn open(&self, state: &mut State) -> io::Result<()> {
        if let Some(parent) = self.path.parent() {
            private_fs::create_private_dir_all(parent)?;
        }
        let file = private_fs::private_open_options()
            .create(true)
            .append(true)
            .open(&self.path)?;
        state.size = file.metadata()?.len();
        state.file = Some(file);
        Ok(())
    }

    fn backup(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Shifts `path` → `.1` → … → `.<max_backups>`; the oldest is deleted and counted.
    fn rotate(&self, state: &mut State) -> io::Result<()> {
        let keep = self.settings.max_backups;
        let oldest = if keep == 0 {
            self.path.clone()
        } else {
            self.backup(keep)
        };
        match fs::read(&oldest) {
            Ok(bytes) => {
                let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                fs::remove_file(&oldest)?;
                self.lost(state, lines);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for n in (1..keep).rev() {
            match fs::rename(self.backup(n), self.backup(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        if keep > 0 {
            fs::rename(&self.path, self.backup(1))?;
        }
        Ok(())
    }

    fn lost(&self, state: &mut State, requests: u64) {
        if requests == 0 {
            return;
        }
        self.dropped.inc_by(requests);
        if !state.warned {
            state.warned = true;
            tracing::warn!(
                exporter = %self.exporter,
                file = %self.path.display(),
                max_megabytes = self.settings.max_megabytes,
                max_backups = self.settings.max_backups,
                "The dead-letter files reached their cap; the oldest dead letters are deleted from now on (counted in sentinel_queue_dead_letters_dropped_total, logged only this once)."
            );
        }
    }
}

fn otlp_json(payload: &Payload) -> serde_json::Result<serde_json::Value> {
    match payload {
        Payload::Traces(request) => serde_json::to_value(request),
        Payload::Metrics(request) => serde_json::to_value(request),
        Payload::Logs(request) => serde_json::to_value(request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;

    fn letters(dir: &Path, max_backups: usize) -> (DeadLetters, Counter) {
        let dropped = Counter::default();
        let settings = DeadLetterSettings {
            max_megabytes: 1,
            max_backups,
        };
        let path = dir.join("sub/dead-letter.jsonl");
        (
            DeadLetters::new(path, "test", settings, dropped.clone()),
            dropped,
        )
    }

    fn lines(path: &Path) -> usize {
        fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
    }

    #[test]
    fn rotates_at_the_cap_and_counts_what_it_deletes() {
        let root = tempfile::tempdir().unwrap();
        let (letters, dropped) = letters(root.path(), 1);
        let payload = Payload::Logs(ExportLogsServiceRequest::default());
        // ~100 bytes per line: 1 MiB holds about 10k lines; write 25k.
        let reason = "x".repeat(40);
        let mut written = 0;
        while written < 25_000 {
            letters.write(&payload, &reason).unwrap();
            written += 1;
        }
        let current = lines(letters.path());
        let backup = lines(&letters.backup(1));
        assert!(fs::metadata(letters.path()).unwrap().len() <= 1 << 20);
        assert!(fs::metadata(letters.backup(1)).unwrap().len() <= 1 << 20);
        assert!(!letters.backup(2).exists());
        assert!(dropped.get() > 0);
        assert_eq!(current + backup + dropped.get() as usize, written);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(letters.path()), 0o600);
        assert_eq!(mode(letters.path().parent().unwrap()), 0o700);
    }

    #[test]
    fn without_backups_the_file_starts_over() {
        let root = tempfile::tempdir().unwrap();
        let (letters, dropped) = letters(root.path(), 0);
        let payload = Payload::Logs(ExportLogsServiceRequest::default());
        for _ in 0..15_000 {
            letters.write(&payload, &"y".repeat(40)).unwrap();
        }
        assert!(!letters.backup(1).exists());
        assert_eq!(lines(letters.path()) + dropped.get() as usize, 15_000);
        assert!(dropped.get() > 0);
    }
}
