//! Opening a queue directory: the ownership checks (private directory, one agent at a
//! time through `LOCK`) and the recovery scan of the segments left by the last run.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sentinel_pipeline::private_fs;

use super::cursor::StoredCursor;
use super::scan::{Chain, Entry, SEQ_LIMIT};
use super::{segment, tracker, SegmentInfo, Segments, CORRUPTION_LOG_LIMIT};
use crate::sending::metrics::QueueMetrics;

/// The lock file: held (flock) while an agent has the queue open; holds its PID.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Why a queue directory cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error(
        "{} is writable by other users (mode {mode:03o}): anyone could plant or delete \
         queued records; make it private (chmod 700) or use another directory",
        dir.display()
    )]
    WritableByOthers { dir: PathBuf, mode: u32 },
    #[error(
        "another agent (PID {holder}) has this queue directory open (lock {}); two agents \
         on one queue would corrupt it: give each its own sending_queue.directory",
        lock.display()
    )]
    Locked { lock: PathBuf, holder: String },
    #[error(
        "the disk queue's sequence numbers are exhausted (the next would be {next}, the \
         limit is {SEQ_LIMIT}); move the directory away to start a new queue"
    )]
    SequenceExhausted { next: u64 },
}

/// Creates the directory (0700) if needed and refuses one that others may write to.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), OpenError> {
    private_fs::create_private_dir_all(dir)?;
    if private_fs::writable_by_others(dir)? {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o7777;
        return Err(OpenError::WritableByOthers {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Takes the directory's lock for this process. The lock is kept until the process
/// exits: a queue re-opened in the same process (a reload, a restart of the pipelines)
/// must find it its own, and other processes must never get in between.
pub(crate) fn lock_dir(dir: &Path) -> Result<(), OpenError> {
    static HELD: Mutex<Vec<(PathBuf, File)>> = Mutex::new(Vec::new());
    let dir = dir.canonicalize()?;
    let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if held.iter().any(|(locked, _)| *locked == dir) {
        return Ok(());
    }
    let file = take_lock(&dir)?;
    held.push((dir, file));
    Ok(())
}

fn take_lock(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join(LOCK_FILE);
    let mut file = private_fs::private_open_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(error.into());
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = match holder.trim() {
            "" => "unknown".to_string(),
            pid => pid.to_string(),
        };
        return Err(OpenError::Locked { lock: path, holder });
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

/// What the segments on disk hold.
pub(crate) struct Recovered {
    pub tracker: tracker::Tracker,
    pub segments: Segments,
    pub disk_bytes: u64,
    pub last_index: u64,
    /// The sequence number the writer continues with.
    pub next_seq: u64,
    /// The cursor found (`None`: unreadable).
    pub start_cursor: Option<u64>,
}

/// Scans every segment in order: rebuilds what is settled, counts what is replayed and
/// finds where the writer continues.
pub(crate) fn recover(
    dir: &Path,
    stored: StoredCursor,
    metrics: &QueueMetrics,
) -> Result<Recovered, OpenError> {
    let start_cursor = match stored {
        StoredCursor::Confirmed(seq) => Some(seq),
        StoredCursor::Missing => Some(0),
        StoredCursor::Unreadable => None,
    };
    let confirmed = stored.confirmed_through();
    let mut next_seq = confirmed
        .checked_add(1)
        .filter(|next| *next < SEQ_LIMIT)
        .ok_or(OpenError::SequenceExhausted { next: confirmed })?;
    let mut tracker = tracker::Tracker::new(confirmed);
    let mut segments = Segments::default();
    let mut chain = Chain::new(start_cursor);
    let mut log = RecoveryLog::default();
    let mut disk_bytes = 0;
    let mut last_index = 0;
    for (index, path) in segment::list_segments(dir)? {
        let mut first_seq = None;
        let mut last_seq: Option<u64> = None;
        let len = segment::scan_segment(&path, &mut chain, |entry| match entry {
            Entry::Record { header, .. } => {
                // The chain admits strictly increasing numbers below SEQ_LIMIT only.
                let seq = header.seq;
                first_seq.get_or_insert(seq);
                last_seq = Some(seq);
                if seq >= next_seq {
                    // Records lost to damage leave gaps; nothing will ever fill them.
                    tracker.settle_range(next_seq, seq - 1);
                    metrics.replayed(header.signal, header.items as usize);
                    next_seq = seq + 1;
                }
            }
            Entry::Corrupt { offset, len } => log.corrupt(metrics, &path, offset, len),
        })?;
        disk_bytes += len;
        last_index = index;
        segments.map.insert(
            index,
            SegmentInfo {
                path,
                len,
                first_seq,
                last_seq,
                replayed: true,
            },
        );
    }
    if next_seq >= SEQ_LIMIT {
        return Err(OpenError::SequenceExhausted { next: next_seq });
    }
    Ok(Recovered {
        tracker,
        segments,
        disk_bytes,
        last_index,
        next_seq,
        start_cursor,
    })
}

/// Logs the first damaged stretches one by one, then only counts them.
#[derive(Default)]
struct RecoveryLog {
    logged: usize,
}

impl RecoveryLog {
    fn corrupt(&mut self, metrics: &QueueMetrics, path: &Path, offset: usize, len: usize) {
        metrics.corrupt.inc();
        if self.logged < CORRUPTION_LOG_LIMIT {
            tracing::warn!(
                exporter = metrics.id(),
                file = %path.display(),
                offset,
                bytes = len,
                "Skipping a damaged, torn or out-of-sequence record in the disk queue."
            );
        } else if self.logged == CORRUPTION_LOG_LIMIT {
            tracing::warn!(
                exporter = metrics.id(),
                "More damaged disk queue records; they are only counted (sentinel_queue_corrupt_records_total)."
            );
        }
        self.logged += 1;
    }
}
