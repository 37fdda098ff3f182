//! The dead-letter file: data the sink will never take, kept for a person to look at.
//!
//! One JSON object per line: `{"time", "exporter", "signal", "reason", "payload"}`, where
//! `payload` is the export request in OTLP/JSON.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sentinel_pipeline::Payload;
use serde_json::json;

pub(crate) struct DeadLetters {
    path: PathBuf,
    exporter: String,
    /// Opened on first use, so queues that never dead-letter create no file.
    file: Mutex<Option<File>>,
}

impl DeadLetters {
    pub fn new(path: PathBuf, exporter: &str) -> Self {
        DeadLetters {
            path,
            exporter: exporter.to_string(),
            file: Mutex::new(None),
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
        let mut slot = self
            .file
            .lock()
            .map_err(|_| io::Error::other("dead-letter file lock poisoned"))?;
        if slot.is_none() {
            if let Some(parent) = self.path.parent() {
                fs::create_dir_all(parent)?;
            }
            *slot = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let file = slot
            .as_mut()
            .ok_or_else(|| io::Error::other("unreachable"))?;
        // One write per line, so concurrent writers never interleave within a line.
        file.write_all(&line)?;
        file.sync_data()
    }
}

fn otlp_json(payload: &Payload) -> serde_json::Result<serde_json::Value> {
    match payload {
        Payload::Traces(request) => serde_json::to_value(request),
        Payload::Metrics(request) => serde_json::to_value(request),
        Payload::Logs(request) => serde_json::to_value(request),
    }
}
