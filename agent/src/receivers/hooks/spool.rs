//! Spool ingestion: `sentinel hook` appends events it could not send to a JSON-lines
//! file; the receiver takes the file over and sends its events through the same path as
//! HTTP events. Nothing is deleted before the pipelines accepted it.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::ingest::HookIngest;

/// Events handed to the pipelines per message while draining a spool.
const BATCH: usize = 100;

/// `<path>.ingesting`: the file being drained, while `sentinel hook` appends to a new one.
pub fn ingesting_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ingesting");
    PathBuf::from(name)
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub ingested: usize,
    pub malformed: usize,
    /// Events kept for the next round because the pipelines refused them.
    pub kept: usize,
}

/// One round: resume a previous `.ingesting` file if any, else take the spool file over
/// by renaming it (atomic, so concurrent appends go either to the old file before the
/// rename or to a fresh one after it). Then send its events.
pub async fn ingest_once(path: &Path, ingest: &Arc<HookIngest>) -> std::io::Result<RoundReport> {
    let ingesting = ingesting_path(path);
    if !ingesting.exists() {
        match std::fs::rename(path, &ingesting) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RoundReport::default())
            }
            Err(err) => return Err(err),
        }
    }
    let text = tokio::fs::read(&ingesting).await?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut report = RoundReport::default();
    let mut done = 0;
    while done < lines.len() {
        let chunk = &lines[done..(done + BATCH).min(lines.len())];
        let owned = chunk.iter().map(|line| line.to_string()).collect();
        // The command already applied the policy when it spooled the event; the receiver
        // records its decision again. Parsing and redaction run off the runtime's workers.
        let (records, bytes, malformed) = ingest
            .prepare_lines(owned)
            .await
            .map_err(std::io::Error::other)?;
        report.malformed += malformed;
        if !records.is_empty() {
            let count = records.len();
            if let Err(refusal) = ingest.deliver(records, bytes).await {
                tracing::info!(%refusal, remaining = lines.len() - done, "Spool ingestion paused; the rest is kept for the next round.");
                report.kept = lines.len() - done;
                ingest.drop_malformed(report.malformed);
                rewrite(&ingesting, &lines[done..])?;
                return Ok(report);
            }
            report.ingested += count;
        }
        done += chunk.len();
    }
    ingest.drop_malformed(report.malformed);
    std::fs::remove_file(&ingesting)?;
    Ok(report)
}

/// Replaces the `.ingesting` file by the lines still to send (write then rename).
fn rewrite(ingesting: &Path, lines: &[&str]) -> std::io::Result<()> {
    let temporary = ingesting.with_extension("ingesting.tmp");
    let mut file = sentinel_pipeline::private_fs::create_private_file(&temporary)?;
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.sync_all()?;
    std::fs::rename(&temporary, ingesting)
}
