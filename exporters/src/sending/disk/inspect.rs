//! `sentinel queue inspect DIR`: what a disk queue holds, read without changing anything.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cursor::{read_cursor, StoredCursor, CURSOR_FILE};
use super::identity::ID_FILE;
use super::scan::{Chain, Entry};
use super::segment::{list_segments, scan_segment};

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error(
        "{}: not a disk queue (no `queue.id`, `cursor` or `*.seg` file); give one queue's \
         own directory: `<service.data_dir>/queues/<exporter id>` (for example \
         /var/lib/sentinel/queues/otlp_backend) or the exporter's `sending_queue.directory`{}",
        .dir.display(),
        found_here(.queues)
    )]
    NotAQueue {
        dir: PathBuf,
        /// Queue directories found one or two levels below, to point at.
        queues: Vec<PathBuf>,
    },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn found_here(queues: &[PathBuf]) -> String {
    if queues.is_empty() {
        return String::new();
    }
    let names: Vec<String> = queues.iter().map(|q| q.display().to_string()).collect();
    format!("; queues found below it: {}", names.join(", "))
}

/// A queue directory has its id file, a cursor or segments (older queues lack the id).
fn is_queue(dir: &Path) -> io::Result<bool> {
    Ok(dir.join(ID_FILE).is_file()
        || dir.join(CURSOR_FILE).is_file()
        || !list_segments(dir)?.is_empty())
}

/// Queue directories in `dir` and in `dir/queues` (a data directory), sorted.
fn queues_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for parent in [dir.to_path_buf(), dir.join("queues")] {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && is_queue(&path).unwrap_or(false) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    pub name: String,
    /// Valid records in the file, confirmed or not.
    pub records: u64,
    /// Records after the cursor: not confirmed yet.
    pub unconfirmed: u64,
    pub bytes: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Damaged or torn stretches.
    pub corrupt: u64,
}

/// Everything a disk queue directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueReport {
    pub directory: PathBuf,
    pub segments: Vec<SegmentReport>,
    /// Every record up to this sequence number is confirmed; `None` without a cursor.
    pub confirmed_through: Option<u64>,
    /// Bytes of all segment files.
    pub bytes_used: u64,
    pub unconfirmed_records: u64,
    pub unconfirmed_items: u64,
    pub corrupt_records: u64,
    /// When the oldest unconfirmed record was appended.
    pub oldest_unconfirmed: Option<SystemTime>,
    /// Lines in `dead-letter.jsonl`.
    pub dead_letters: u64,
}

impl QueueReport {
    pub fn oldest_unconfirmed_age(&self) -> Option<Duration> {
        self.oldest_unconfirmed
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default())
    }
}

/// Reads a disk queue directory: segments, cursor, unconfirmed records and their age.
pub fn inspect(dir: &Path) -> Result<QueueReport, InspectError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InspectError::Io { path, source }
    };
    let meta = std::fs::metadata(dir).map_err(io_error(dir))?;
    if !meta.is_dir() {
        return Err(InspectError::NotADirectory(dir.to_path_buf()));
    }
    if !is_queue(dir).map_err(io_error(dir))? {
        return Err(InspectError::NotAQueue {
            dir: dir.to_path_buf(),
            queues: queues_below(dir),
        });
    }
    let confirmed_through = match read_cursor(dir).map_err(io_error(dir))? {
        StoredCursor::Confirmed(seq) => Some(seq),
        StoredCursor::Missing | StoredCursor::Unreadable => None,
    };
    let cursor = confirmed_through.unwrap_or(0);
    // The same sequence checks as recovery: what it would reject counts as corrupt here.
    let mut chain = Chain::new(match read_cursor(dir).map_err(io_error(dir))? {
        StoredCursor::Unreadable => None,
        StoredCursor::Missing | StoredCursor::Confirmed(_) => Some(cursor),
    });
    let mut report = QueueReport {
        directory: dir.to_path_buf(),
        segments: Vec::new(),
        confirmed_through,
        bytes_used: 0,
        unconfirmed_records: 0,
        unconfirmed_items: 0,
        corrupt_records: 0,
        oldest_unconfirmed: None,
        dead_letters: 0,
    };
    let mut oldest_ms: Option<u64> = None;
    for (_, path) in list_segments(dir).map_err(io_error(dir))? {
        let mut segment = SegmentReport {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            records: 0,
            unconfirmed: 0,
            bytes: 0,
            first_seq: None,
            last_seq: None,
            corrupt: 0,
        };
        segment.bytes = scan_segment(&path, &mut chain, |entry| match entry {
            Entry::Record { header, .. } => {
                segment.records += 1;
                segment.first_seq.get_or_insert(header.seq);
                segment.last_seq = Some(header.seq);
                if header.seq > cursor {
                    segment.unconfirmed += 1;
                    report.unconfirmed_items += u64::from(header.items);
                    oldest_ms =
                        Some(oldest_ms.map_or(header.appended_ms, |o| o.min(header.appended_ms)));
                }
            }
            Entry::Corrupt { .. } => segment.corrupt += 1,
        })
        .map_err(io_error(&path))?;
        report.bytes_used += segment.bytes;
        report.unconfirmed_records += segment.unconfirmed;
        report.corrupt_records += segment.corrupt;
        report.segments.push(segment);
    }
    report.oldest_unconfirmed = oldest_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    let dead_letter = dir.join("dead-letter.jsonl");
    if let Ok(text) = std::fs::read(&dead_letter) {
        report.dead_letters = text.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok(report)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl fmt::Display for QueueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "queue directory: {}", self.directory.display())?;
        match self.confirmed_through {
            Some(seq) => writeln!(f, "cursor:          confirmed through sequence {seq}")?,
            None => writeln!(f, "cursor:          none (nothing confirmed yet)")?,
        }
        writeln!(
            f,
            "bytes used:      {} in {} segment(s)",
            human_bytes(self.bytes_used),
            self.segments.len()
        )?;
        write!(
            f,
            "unconfirmed:     {} record(s), {} item(s)",
            self.unconfirmed_records, self.unconfirmed_items
        )?;
        match self.oldest_unconfirmed_age() {
            Some(age) => writeln!(
                f,
                ", oldest appended {} ago",
                humantime::format_duration(Duration::from_secs(age.as_secs()))
            )?,
            None => writeln!(f)?,
        }
        writeln!(f, "corrupt records: {}", self.corrupt_records)?;
        writeln!(f, "dead letters:    {}", self.dead_letters)?;
        if self.segments.is_empty() {
            return Ok(());
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<26} {:>9} {:>12} {:>9} {:>11}  SEQUENCES",
            "SEGMENT", "RECORDS", "UNCONFIRMED", "CORRUPT", "BYTES"
        )?;
        for segment in &self.segments {
            let sequences = match (segment.first_seq, segment.last_seq) {
                (Some(first), Some(last)) => format!("{first}-{last}"),
                _ => "-".to_string(),
            };
            writeln!(
                f,
                "{:<26} {:>9} {:>12} {:>9} {:>11}  {sequences}",
                segment.name, segment.records, segment.unconfirmed, segment.corrupt, segment.bytes
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_queue_files_is_not_a_queue_and_queues_below_are_named() {
        let data_dir = tempfile::tempdir().unwrap();
        std::fs::write(data_dir.path().join("notes.txt"), "hello").unwrap();
        let err = inspect(data_dir.path()).unwrap_err();
        assert!(matches!(err, InspectError::NotAQueue { ref queues, .. } if queues.is_empty()));
        let text = err.to_string();
        assert!(text.contains("not a disk queue"), "{text}");
        assert!(!text.contains("found below"), "{text}");

        let queue = data_dir.path().join("queues").join("otlp_backend");
        std::fs::create_dir_all(&queue).unwrap();
        super::super::identity::load_or_create(&queue).unwrap();
        let text = inspect(data_dir.path()).unwrap_err().to_string();
        assert!(
            text.contains(&format!("queues found below it: {}", queue.display())),
            "{text}"
        );
        let report = inspect(&queue).expect("a queue with only its id is a queue");
        assert!(report.segments.is_empty());
    }
}
