//! The disk queue: append-only segment files plus a cursor, so that what a client was told
//! is accepted survives a crash of the agent (and, with `fsync`, of the machine).
//!
//! Three parties share one [`Shared`]:
//! - `consume()` (the pipeline's task) encodes the request and hands it to the writer
//!   through a bounded channel; it never blocks, and refuses when the channel or the disk
//!   budget is full.
//! - The writer thread appends records, fsyncs by policy, releases the clients' acks only
//!   once their records are written (and synced), persists the cursor and deletes
//!   segments whose records are all settled.
//! - The reader thread reads records in order (replaying old segments first), decodes
//!   them and queues batches for the consumer tasks, which confirm them out of order.

mod append;
mod cursor;
mod identity;
mod inspect;
mod reader;
pub(crate) mod record;
mod recover;
mod scan;
mod segment;
#[cfg(test)]
mod smuggle_tests;
#[cfg(test)]
mod tests;
mod tracker;
mod writer;

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sentinel_pipeline::sending::{FsyncPolicy, WhenFull};
use sentinel_pipeline::{Consumer, EncodedMessage, Message, Refusal, Signal};
use tokio::sync::Notify;

use super::metrics::QueueMetrics;
use super::worker::{Batch, Piece, Settlement, Source};
use record::HEADER_LEN;
use scan::{Chain, Entry};

pub use inspect::{inspect, InspectError, QueueReport, SegmentReport};
pub use recover::OpenError;

/// Most bytes waiting in the channel between `consume()` and the writer.
const CHANNEL_BYTES: u64 = 32 << 20;
/// Most requests waiting in that channel.
const CHANNEL_REQUESTS: usize = 1024;
/// Largest segment file before the writer starts a new one.
const MAX_SEGMENT_SIZE: u64 = 8 << 20;
const MIN_SEGMENT_SIZE: u64 = 4 << 10;
/// How often threads look at shutdown flags and the writer does housekeeping.
pub(crate) const TICK: Duration = Duration::from_millis(100);
/// Damaged stretches logged one by one at start-up; the rest are only counted.
const CORRUPTION_LOG_LIMIT: usize = 10;

pub(crate) const DROPPED_WHEN_FULL: &str = "disk queue full, drop_oldest";

#[cfg(test)]
thread_local! {
    /// Makes the writer's first segment `/dev/full`, to test write errors (ENOSPC).
    pub(crate) static FAIL_FIRST_SEGMENT_WRITES: std::cell::Cell<bool> =
        const { std::cell::Cell::new(false) };
}

/// The settings the disk queue uses.
#[derive(Debug, Clone)]
pub(crate) struct DiskConfig {
    pub dir: PathBuf,
    pub max_size: u64,
    pub when_full: WhenFull,
    pub fsync: FsyncPolicy,
    pub segment_size: u64,
    /// Batches decoded ahead for the consumers.
    pub read_ahead: usize,
    /// The exporter sends records in their stored encoding ([`Exporter::takes_encoded`]),
    /// so the reader hands them over without decoding.
    ///
    /// [`Exporter::takes_encoded`]: sentinel_pipeline::Exporter::takes_encoded
    pub forward_encoded: bool,
}

impl DiskConfig {
    pub fn segment_size_for(max_size: u64) -> u64 {
        (max_size / 8).clamp(MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE)
    }

    fn syncs(&self) -> bool {
        self.fsync != FsyncPolicy::Never
    }
}

/// What the queue knows about one segment file.
#[derive(Debug, Clone)]
pub(crate) struct SegmentInfo {
    pub path: PathBuf,
    /// Bytes of whole records (plus header); what readers may read.
    pub len: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Found at start-up: its damage was counted then, readers skip it quietly.
    pub replayed: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Segments {
    pub map: BTreeMap<u64, SegmentInfo>,
    /// The segment the writer appends to.
    pub active: u64,
    /// The writer has exited: every segment is complete.
    pub writer_done: bool,
}

#[derive(Default)]
pub(crate) struct Ready {
    pub batches: VecDeque<Batch>,
    pub reader_done: bool,
}

pub(crate) struct Shared {
    pub config: DiskConfig,
    pub metrics: Arc<QueueMetrics>,
    pub segments: Mutex<Segments>,
    /// Signalled with `segments` when the writer appends, rotates or exits.
    pub appended: Condvar,
    pub tracker: Mutex<tracker::Tracker>,
    /// Bytes of all segment files.
    pub disk_bytes: AtomicU64,
    /// Bytes in the channel to the writer.
    pub channel_bytes: AtomicU64,
    /// Draining: refuse new data; the writer finishes what it has and exits.
    pub closing: AtomicBool,
    /// Threads exit at once.
    pub stop: AtomicBool,
    pub ready: Mutex<Ready>,
    /// Signalled with `ready` when a consumer takes a batch.
    pub ready_space: Condvar,
    pub ready_changed: Notify,
    /// The cursor last written to the cursor file; also serialises housekeeping.
    persisted_cursor: Mutex<u64>,
    /// The cursor found at start (`None`: unreadable); the reader's chain starts there.
    pub start_cursor: Option<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent at every await-free step; a panic
    // elsewhere must not take the queue down with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn segments(&self) -> MutexGuard<'_, Segments> {
        lock(&self.segments)
    }

    pub fn tracker(&self) -> MutexGuard<'_, tracker::Tracker> {
        lock(&self.tracker)
    }

    pub fn ready(&self) -> MutexGuard<'_, Ready> {
        lock(&self.ready)
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Adds to (or, negative, takes from) the bytes of all segment files.
    pub fn add_disk_bytes(&self, delta: i64) {
        let now = if delta >= 0 {
            self.disk_bytes.fetch_add(delta as u64, Ordering::AcqRel) + delta as u64
        } else {
            self.disk_bytes
                .fetch_sub(delta.unsigned_abs(), Ordering::AcqRel)
                .saturating_sub(delta.unsigned_abs())
        };
        self.metrics.bytes.set(now as i64);
    }

    /// Wakes every thread and task that waits on this queue.
    pub fn wake_all(&self) {
        self.appended.notify_all();
        self.ready_space.notify_all();
        self.ready_changed.notify_waiters();
    }

    /// Writes the tracker's cursor if it moved; returns the cursor now on disk.
    pub fn persist_cursor(&self) -> u64 {
        let mut persisted = lock(&self.persisted_cursor);
        let confirmed = self.tracker().confirmed_through();
        if confirmed > *persisted {
            match cursor::write_cursor(&self.config.dir, confirmed, self.config.syncs()) {
                Ok(()) => *persisted = confirmed,
                Err(error) => tracing::warn!(
                    exporter = self.metrics.id(),
                    dir = %self.config.dir.display(),
                    %error,
                    "Cannot write the disk queue cursor; confirmed records may be sent again after a restart."
                ),
            }
        }
        *persisted
    }

    /// Persists the cursor and deletes segments whose records are all settled. Once the
    /// writer has exited, the last segment goes too if it is fully settled.
    pub fn housekeep(&self) {
        let persisted = self.persist_cursor();
        // Only segments below the cursor on disk go: recovery relies on the first record
        // after the cursor being the next one (see `scan`).
        let confirmed = persisted;
        let settled: Vec<(u64, SegmentInfo)> = {
            let segments = self.segments();
            let writer_done = segments.writer_done;
            segments
                .map
                .iter()
                .filter(|(index, info)| {
                    (**index != segments.active || writer_done)
                        && info.last_seq.is_none_or(|last| last <= confirmed)
                })
                .map(|(index, info)| (*index, info.clone()))
                .collect()
        };
        if settled.is_empty() {
            return;
        }
        let mut removed = false;
        for (index, info) in settled {
            match fs::remove_file(&info.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(file = %info.path.display(), %error, "Cannot delete a delivered disk queue segment.");
                    continue;
                }
            }
            if let Some(gone) = self.segments().map.remove(&index) {
                self.add_disk_bytes(-(gone.len as i64));
                removed = true;
            }
        }
        if removed && self.config.syncs() {
            let _ = cursor::sync_dir(&self.config.dir);
        }
    }
}

/// The disk queue's `Consumer` and `Source`.
pub(crate) struct DiskQueue {
    shared: Arc<Shared>,
    /// See [`identity`].
    id: u128,
    to_writer: SyncSender<writer::Append>,
}

/// The threads of a running disk queue.
pub(crate) struct DiskThreads {
    pub writer: Option<JoinHandle<()>>,
    pub reader: Option<JoinHandle<()>>,
}

impl DiskQueue {
    /// Scans the directory, replays what is not confirmed and starts the threads.
    pub fn open(
        config: DiskConfig,
        metrics: Arc<QueueMetrics>,
    ) -> Result<(Arc<DiskQueue>, DiskThreads), OpenError> {
        recover::prepare_dir(&config.dir)?;
        recover::lock_dir(&config.dir)?;
        let id = identity::load_or_create(&config.dir)?;
        let stored = cursor::read_cursor(&config.dir)?;
        if stored == cursor::StoredCursor::Unreadable {
            tracing::warn!(
                dir = %config.dir.display(),
                "The disk queue cursor file is damaged; every record on disk will be sent again."
            );
        }
        let confirmed = stored.confirmed_through();
        let recover::Recovered {
            tracker,
            mut segments,
            mut disk_bytes,
            last_index,
            next_seq: expected,
            start_cursor,
        } = recover::recover(&config.dir, stored, &metrics)?;
        let replayed = metrics.waiting_records();
        if replayed > 0 {
            tracing::info!(
                exporter = metrics.id(),
                records = replayed,
                dir = %config.dir.display(),
                "Replaying records the disk queue had not delivered before the agent stopped."
            );
        }
        // Never append to an old segment: it may end in a torn record.
        let active = last_index.checked_add(1).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "segment numbers are exhausted")
        })?;
        let (file, path) = segment::create_segment(&config.dir, active, config.syncs())?;
        #[cfg(test)]
        let file = if FAIL_FIRST_SEGMENT_WRITES.with(|fail| fail.get()) {
            fs::OpenOptions::new().append(true).open("/dev/full")?
        } else {
            file
        };
        let active_len = record::SEGMENT_MAGIC.len() as u64;
        disk_bytes += active_len;
        segments.active = active;
        segments.map.insert(
            active,
            SegmentInfo {
                path,
                len: active_len,
                first_seq: None,
                last_seq: None,
                replayed: false,
            },
        );
        metrics.bytes.set(disk_bytes as i64);
        let (to_writer, from_consume) = mpsc::sync_channel(CHANNEL_REQUESTS);
        let shared = Arc::new(Shared {
            config,
            metrics,
            segments: Mutex::new(segments),
            appended: Condvar::new(),
            tracker: Mutex::new(tracker),
            disk_bytes: AtomicU64::new(disk_bytes),
            channel_bytes: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            ready: Mutex::new(Ready::default()),
            ready_space: Condvar::new(),
            ready_changed: Notify::new(),
            persisted_cursor: Mutex::new(confirmed),
            start_cursor,
        });
        let writer = writer::Writer::new(shared.clone(), from_consume, file, active_len, expected);
        let name = shared.metrics.id().to_string();
        let writer = std::thread::Builder::new()
            .name(format!("queue-w {name}"))
            .spawn(move || writer.run())?;
        let reader_shared = shared.clone();
        let reader = std::thread::Builder::new()
            .name(format!("queue-r {name}"))
            .spawn(move || reader::run(reader_shared))?;
        let queue = Arc::new(DiskQueue {
            shared,
            id,
            to_writer,
        });
        Ok((
            queue,
            DiskThreads {
                writer: Some(writer),
                reader: Some(reader),
            },
        ))
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn refresh_gauges(&self) {
        let oldest = self.shared.tracker().oldest_in_flight_ms();
        self.shared.metrics.set_oldest(oldest);
        self.shared
            .metrics
            .bytes
            .set(self.shared.disk_bytes.load(Ordering::Acquire) as i64);
    }
}

impl Consumer for DiskQueue {
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        let shared = &self.shared;
        let id = shared.metrics.id();
        if shared.closing.load(Ordering::Acquire) || shared.stopping() {
            return Err(Refusal::unavailable(format!(
                "exporter {id} is shutting down"
            )));
        }
        let pending = shared.channel_bytes.load(Ordering::Acquire);
        let behind = pending > 0 && pending + bytes as u64 > CHANNEL_BYTES;
        let used = shared.disk_bytes.load(Ordering::Acquire);
        // The last part of the queue is kept for data already admitted.
        let limit = super::below_headroom(shared.config.max_size as usize) as u64;
        let full = used + pending + (HEADER_LEN + bytes) as u64 > limit;
        if behind || (full && shared.config.when_full == WhenFull::Refuse) {
            return Err(Refusal::capacity(format!(
                "exporter {id}: disk queue full ({used} of {} bytes used, {pending} waiting)",
                shared.config.max_size
            )));
        }
        Ok(())
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        let Message { payload, acks } = msg;
        let record = append::Record {
            signal: payload.signal(),
            items: payload.item_count(),
            len: payload.encoded_len(),
        };
        self.append(record, acks, || Bytes::from(payload.encode_to_vec()))
    }

    /// Every exporter's disk queue takes requests still encoded: it stores the encoding.
    fn takes_encoded(&self, _signal: Signal) -> bool {
        true
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        let EncodedMessage { request, acks } = msg;
        let record = append::Record {
            signal: request.signal(),
            items: request.items(),
            len: request.len(),
        };
        self.append(record, acks, || request.bytes().clone())
    }
}

#[async_trait]
impl Source for DiskQueue {
    async fn next_batch(&self) -> Option<Batch> {
        let shared = &self.shared;
        loop {
            let changed = shared.ready_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut ready = shared.ready();
                if shared.stopping() {
                    return None;
                }
                if let Some(batch) = ready.batches.pop_front() {
                    drop(ready);
                    shared.ready_space.notify_one();
                    return Some(batch);
                }
                if ready.reader_done {
                    return None;
                }
            }
            changed.await;
        }
    }

    fn queue_id(&self) -> u128 {
        self.id
    }

    fn settle(&self, piece: &Piece, settlement: Settlement) -> bool {
        let mut tracker = self.shared.tracker();
        match settlement {
            Settlement::Interrupted => {
                tracker.abandon_flight(piece.seq);
                false
            }
            Settlement::Delivered | Settlement::DeadLettered => {
                let first_time = tracker.settle(piece.seq);
                drop(tracker);
                if first_time {
                    self.shared
                        .metrics
                        .settled(piece.data.signal(), piece.items);
                }
                first_time
            }
        }
    }
}

/// The fuzz target's entry (fuzz/): walks arbitrary bytes as a segment file, as recovery
/// does, and checks that the walk tiles the bytes and accepts strictly increasing numbers.
#[doc(hidden)]
pub fn fuzz_scan_segment(bytes: &[u8]) {
    let mut chain = Chain::new(Some(u64::from(bytes.first().copied().unwrap_or(0))));
    let mut end = None;
    let mut last: Option<u64> = None;
    segment::scan_bytes(bytes, &mut chain, |entry| {
        let (offset, len) = match entry {
            Entry::Record { offset, header, .. } => {
                assert!(last.is_none_or(|l| header.seq > l), "sequence went back");
                assert!(header.seq < scan::SEQ_LIMIT);
                last = Some(header.seq);
                (offset, header.record_len())
            }
            Entry::Corrupt { offset, len } => (offset, len),
        };
        assert!(end.is_none_or(|e| e == offset), "entries leave a gap");
        end = Some(offset + len);
    });
    assert!(end.is_none_or(|e| e == bytes.len()), "the walk stops early");
}
