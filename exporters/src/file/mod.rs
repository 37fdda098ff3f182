//! `file` exporter: OTLP/JSON lines with size-based rotation.

#[cfg(test)]
mod compliance;
mod config;
#[cfg(test)]
mod tests;

pub use config::{FileConfig, RotationConfig};

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, Signal,
};

pub struct FileFactory;

impl Factory for FileFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "file",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description: "Writes OTLP/JSON lines to a file, rotated by size",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<FileConfig>(node)
    }
}

impl ExporterFactory for FileFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: FileConfig = decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let queue = config.sending_queue.clone();
        let retry = config.retry_on_failure.clone();
        Ok(BuiltExporter {
            exporter: Arc::new(FileExporter::new(config)),
            queue,
            retry,
        })
    }
}

pub struct FileExporter {
    state: Arc<Mutex<FileState>>,
}

struct FileState {
    path: PathBuf,
    max_bytes: u64,
    max_backups: usize,
    /// Opened lazily so a missing directory at startup is retried, not fatal.
    file: Option<File>,
    size: u64,
}

impl FileExporter {
    pub fn new(config: FileConfig) -> Self {
        FileExporter {
            state: Arc::new(Mutex::new(FileState {
                path: config.path,
                max_bytes: config.rotation.max_megabytes.saturating_mul(1024 * 1024),
                max_backups: config.rotation.max_backups,
                file: None,
                size: 0,
            })),
        }
    }
}

/// One export request as an OTLP/JSON line.
pub fn json_line(payload: &Payload) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = match payload {
        Payload::Traces(req) => serde_json::to_vec(req)?,
        Payload::Metrics(req) => serde_json::to_vec(req)?,
        Payload::Logs(req) => serde_json::to_vec(req)?,
    };
    line.push(b'\n');
    Ok(line)
}

#[async_trait]
impl Exporter for FileExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let line = json_line(&payload)
            .map_err(|e| ExportError::permanent(format!("cannot encode as JSON: {e}")))?;
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || {
            let mut state = state
                .lock()
                .map_err(|_| ExportError::retryable("file writer poisoned"))?;
            state.write_line(&line)
        })
        .await
        .map_err(|e| ExportError::retryable(format!("file writer task failed: {e}")))?
    }
}

impl FileState {
    fn write_line(&mut self, line: &[u8]) -> Result<(), ExportError> {
        let failed = |what: &str, path: &Path, err: std::io::Error| {
            // Disk full or permissions: keep the data queued and retry later.
            ExportError::retryable(format!("cannot {what} {}: {err}", path.display()))
        };
        if self.file.is_some() && self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.file = None;
            self.rotate().map_err(|e| failed("rotate", &self.path, e))?;
        }
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                sentinel_pipeline::private_fs::create_private_dir_all(dir)
                    .map_err(|e| failed("create directory", dir, e))?;
            }
            // 0600 like the Collector's file exporter: the data may hold secrets.
            let file = sentinel_pipeline::private_fs::private_open_options()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| failed("open", &self.path, e))?;
            self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("opened above");
        if let Err(err) = file.write_all(line).and_then(|_| file.flush()) {
            // A partial line may have been written; start a fresh handle next time.
            self.file = None;
            return Err(failed("write", &self.path, err));
        }
        self.size += line.len() as u64;
        Ok(())
    }

    /// path → path.1 → … → path.N; the oldest beyond N is deleted.
    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_backups == 0 {
            return std::fs::remove_file(&self.path);
        }
        let oldest = numbered(self.max_backups);
        if oldest.exists() {
            std::fs::remove_file(&oldest)?;
        }
        for n in (1..self.max_backups).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}
