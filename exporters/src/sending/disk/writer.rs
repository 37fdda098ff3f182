//! The writer thread: appends records, fsyncs by policy, and only then lets the clients'
//! acknowledgements go.

use std::fs::{self, File};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel_pipeline::sending::{FsyncPolicy, WhenFull};
use sentinel_pipeline::{Acks, Refusal, Signal};

use super::record::{self, encode_record, RecordHeader, HEADER_LEN};
use super::scan::{Chain, Entry, SEQ_LIMIT};
use super::segment::{create_segment, scan_segment};
use super::{SegmentInfo, Shared, DROPPED_WHEN_FULL, TICK};

/// Requests taken from the channel per round: one write and one fsync cover them all.
const ROUND: usize = 256;
/// Write errors are logged at most this often.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// A client's acknowledgement held by the disk queue. Dropped without `release`, it
/// refuses: nothing is acknowledged that was not written.
pub(crate) struct AckGuard(Option<Acks>);

impl AckGuard {
    pub fn new(acks: Acks) -> Self {
        AckGuard(Some(acks))
    }

    /// The data is safe: let the client be told.
    pub fn release(mut self) {
        self.0.take();
    }

    pub fn refuse(mut self, refusal: &Refusal) {
        if let Some(acks) = self.0.take() {
            acks.refuse(refusal);
        }
    }
}

impl Drop for AckGuard {
    fn drop(&mut self) {
        if let Some(acks) = self.0.take() {
            acks.refuse(&Refusal::unavailable(
                "the disk queue stopped before the data was safely written",
            ));
        }
    }
}

/// One request on its way to disk.
pub(crate) struct Append {
    pub signal: Signal,
    pub items: usize,
    pub appended_ms: u64,
    pub acks: AckGuard,
    /// The protobuf-encoded export request.
    pub bytes: bytes::Bytes,
}

/// Records encoded but not written yet.
#[derive(Default)]
struct Chunk {
    buf: Vec<u8>,
    records: Vec<(u64, Signal, usize, AckGuard)>,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    from_consume: Receiver<Append>,
    file: File,
    active_len: u64,
    next_seq: u64,
    /// The active file cannot be appended to safely (a failed write left bytes behind).
    must_rotate: bool,
    /// Written, waiting for the fsync that covers them.
    awaiting_sync: Vec<AckGuard>,
    unsynced_since: Option<Instant>,
    last_housekeeping: Instant,
    last_error_log: Option<Instant>,
}

impl Writer {
    pub fn new(
        shared: Arc<Shared>,
        from_consume: Receiver<Append>,
        file: File,
        active_len: u64,
        next_seq: u64,
    ) -> Self {
        Writer {
            shared,
            from_consume,
            file,
            active_len,
            next_seq,
            must_rotate: false,
            awaiting_sync: Vec::new(),
            unsynced_since: None,
            last_housekeeping: Instant::now(),
            last_error_log: None,
        }
    }

    pub fn run(mut self) {
        loop {
            if self.shared.stopping() {
                // Dropped without draining: unsynced acks refuse as they drop.
                break;
            }
            let closing = self.shared.closing.load(Ordering::Acquire);
            let first = if closing {
                match self.from_consume.try_recv() {
                    Ok(append) => Some(append),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                        self.finish();
                        break;
                    }
                }
            } else {
                match self.from_consume.recv_timeout(self.wait_time()) {
                    Ok(append) => Some(append),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        self.finish();
                        break;
                    }
                }
            };
            if let Some(first) = first {
                let mut round = vec![first];
                while round.len() < ROUND {
                    match self.from_consume.try_recv() {
                        Ok(append) => round.push(append),
                        Err(_) => break,
                    }
                }
                self.append_round(round);
            }
            self.sync_if_due();
            if self.last_housekeeping.elapsed() >= TICK {
                self.last_housekeeping = Instant::now();
                self.shared.housekeep();
            }
        }
        self.shared.segments().writer_done = true;
        self.shared.appended.notify_all();
    }

    fn finish(&mut self) {
        self.sync();
        self.shared.housekeep();
    }

    fn wait_time(&self) -> Duration {
        match (self.shared.config.fsync, self.unsynced_since) {
            (FsyncPolicy::Interval(interval), Some(since)) => (since + interval)
                .saturating_duration_since(Instant::now())
                .min(TICK),
            _ => TICK,
        }
    }

    fn append_round(&mut self, round: Vec<Append>) {
        let config = self.shared.config.clone();
        let mut chunk = Chunk::default();
        for append in round {
            self.shared
                .channel_bytes
                .fetch_sub(append.bytes.len() as u64, Ordering::AcqRel);
            let record_len = (HEADER_LEN + append.bytes.len()) as u64;
            // A new segment costs its header too.
            let cost = record_len + self.rotation_cost(&chunk, record_len);
            let used = self.shared.disk_bytes.load(Ordering::Acquire) + chunk.buf.len() as u64;
            if used + cost > config.max_size {
                let room = match config.when_full {
                    WhenFull::Refuse => false,
                    WhenFull::DropOldest => {
                        self.flush(&mut chunk);
                        self.make_room(record_len + record::SEGMENT_MAGIC.len() as u64)
                    }
                };
                if !room {
                    self.shared
                        .metrics
                        .signal(append.signal)
                        .refused(append.items);
                    append.acks.refuse(&Refusal::capacity(format!(
                        "exporter {}: disk queue full ({used} of {} bytes used)",
                        self.shared.metrics.id(),
                        config.max_size
                    )));
                    continue;
                }
            }
            if self.rotation_cost(&chunk, record_len) > 0 {
                self.flush(&mut chunk);
                if let Err(error) = self.rotate() {
                    self.write_failed(vec![(0, append.signal, append.items, append.acks)], &error);
                    continue;
                }
            }
            if self.next_seq >= SEQ_LIMIT {
                // Unreachable in practice (2^63 records); never wrap into old numbers.
                self.shared
                    .metrics
                    .signal(append.signal)
                    .refused(append.items);
                append.acks.refuse(&Refusal::unavailable(format!(
                    "exporter {}: the disk queue's sequence numbers are exhausted",
                    self.shared.metrics.id()
                )));
                continue;
            }
            let header = RecordHeader {
                seq: self.next_seq,
                appended_ms: append.appended_ms,
                items: append.items.min(u32::MAX as usize) as u32,
                signal: append.signal,
                payload_len: append.bytes.len() as u32,
            };
            encode_record(&mut chunk.buf, &header, &append.bytes);
            chunk
                .records
                .push((self.next_seq, append.signal, append.items, append.acks));
            self.next_seq += 1;
        }
        self.flush(&mut chunk);
        if self.shared.config.fsync == FsyncPolicy::Always {
            self.sync();
        }
    }

    /// Header bytes of the new segment `record_len` more bytes would need, or 0.
    fn rotation_cost(&self, chunk: &Chunk, record_len: u64) -> u64 {
        let pending = self.active_len + chunk.buf.len() as u64;
        let has_records = pending > record::SEGMENT_MAGIC.len() as u64;
        if self.must_rotate
            || (has_records && pending + record_len > self.shared.config.segment_size)
        {
            record::SEGMENT_MAGIC.len() as u64
        } else {
            0
        }
    }

    /// Writes the chunk to the active segment and publishes it to the reader.
    fn flush(&mut self, chunk: &mut Chunk) {
        if chunk.records.is_empty() {
            return;
        }
        let Chunk { buf, records } = std::mem::take(chunk);
        if let Err(error) = self.file.write_all(&buf) {
            // Take back the sequence numbers and whatever part of the chunk landed. If
            // the part cannot be cut off, its numbers stay used: recovery must never see
            // one number twice.
            if self.file.set_len(self.active_len).is_ok() {
                self.next_seq = records.first().map_or(self.next_seq, |r| r.0);
            } else {
                self.must_rotate = true;
            }
            self.write_failed(records, &error);
            return;
        }
        let written = buf.len() as u64;
        self.active_len += written;
        self.shared.add_disk_bytes(written as i64);
        let first = records.first().map(|r| r.0);
        let last = records.last().map(|r| r.0);
        {
            let mut segments = self.shared.segments();
            let active = segments.active;
            if let Some(info) = segments.map.get_mut(&active) {
                info.len = self.active_len;
                if info.first_seq.is_none() {
                    info.first_seq = first;
                }
                info.last_seq = last;
            }
        }
        self.shared.appended.notify_all();
        let never = self.shared.config.fsync == FsyncPolicy::Never;
        for (_, signal, items, acks) in records {
            self.shared.metrics.accepted(signal, items);
            if never {
                acks.release();
            } else {
                self.awaiting_sync.push(acks);
            }
        }
        if !never {
            self.unsynced_since.get_or_insert_with(Instant::now);
        }
    }

    fn write_failed(
        &mut self,
        records: Vec<(u64, Signal, usize, AckGuard)>,
        error: &std::io::Error,
    ) {
        let refusal = Refusal::unavailable(format!(
            "exporter {}: cannot write to the disk queue in {}: {error}",
            self.shared.metrics.id(),
            self.shared.config.dir.display()
        ));
        let now = Instant::now();
        if self
            .last_error_log
            .is_none_or(|at| now.duration_since(at) >= ERROR_LOG_EVERY)
        {
            self.last_error_log = Some(now);
            tracing::error!(
                exporter = self.shared.metrics.id(),
                dir = %self.shared.config.dir.display(),
                %error,
                "Disk queue write failed; refusing data until writes succeed again."
            );
        }
        for (_, signal, items, acks) in records {
            self.shared.metrics.signal(signal).failed(items);
            acks.refuse(&refusal);
        }
    }

    fn sync_if_due(&mut self) {
        if let (FsyncPolicy::Interval(interval), Some(since)) =
            (self.shared.config.fsync, self.unsynced_since)
        {
            if since.elapsed() >= interval {
                self.sync();
            }
        }
    }

    /// fsyncs the active segment and releases every ack it covers.
    fn sync(&mut self) {
        if self.unsynced_since.is_none() && self.awaiting_sync.is_empty() {
            return;
        }
        self.unsynced_since = None;
        let started = Instant::now();
        let result = self.file.sync_data();
        self.shared.metrics.observe_fsync(started.elapsed());
        let waiting = std::mem::take(&mut self.awaiting_sync);
        match result {
            Ok(()) => waiting.into_iter().for_each(AckGuard::release),
            Err(error) => {
                tracing::error!(
                    exporter = self.shared.metrics.id(),
                    dir = %self.shared.config.dir.display(),
                    %error,
                    "Disk queue fsync failed; the clients are told to send again."
                );
                let refusal = Refusal::unavailable(format!("disk queue fsync failed: {error}"));
                waiting.into_iter().for_each(|acks| acks.refuse(&refusal));
            }
        }
    }

    /// Closes the active segment and starts the next one.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.sync();
        let dir = self.shared.config.dir.clone();
        let mut index = self.shared.segments().active + 1;
        let (file, path) = loop {
            match create_segment(&dir, index, self.shared.config.syncs()) {
                Ok(created) => break created,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => index += 1,
                Err(e) => return Err(e),
            }
        };
        self.file = file;
        self.active_len = record::SEGMENT_MAGIC.len() as u64;
        self.must_rotate = false;
        self.shared.add_disk_bytes(self.active_len as i64);
        {
            let mut segments = self.shared.segments();
            segments.map.insert(
                index,
                SegmentInfo {
                    path,
                    len: self.active_len,
                    first_seq: None,
                    last_seq: None,
                    replayed: false,
                },
            );
            segments.active = index;
        }
        self.shared.appended.notify_all();
        Ok(())
    }

    /// `drop_oldest`: deletes the oldest segments until `record_len` more bytes fit.
    fn make_room(&mut self, record_len: u64) -> bool {
        let max_size = self.shared.config.max_size;
        loop {
            if self.shared.disk_bytes.load(Ordering::Acquire) + record_len <= max_size {
                return true;
            }
            let oldest = {
                let segments = self.shared.segments();
                segments
                    .map
                    .iter()
                    .find(|(index, _)| **index != segments.active)
                    .map(|(index, info)| (*index, info.clone()))
            };
            match oldest {
                Some((index, info)) => self.drop_segment(index, &info),
                None if self.active_len > record::SEGMENT_MAGIC.len() as u64 => {
                    if self.rotate().is_err() {
                        return false;
                    }
                }
                None => return false,
            }
        }
    }

    fn drop_segment(&mut self, index: u64, info: &SegmentInfo) {
        let metrics = &self.shared.metrics;
        let mut chain = Chain::new(info.first_seq.map(|first| first.saturating_sub(1)));
        let scanned = scan_segment(&info.path, &mut chain, |entry| {
            if let Entry::Record { header, .. } = entry {
                if self.shared.tracker().settle(header.seq) {
                    metrics
                        .signal(header.signal)
                        .dropped(header.items as usize, DROPPED_WHEN_FULL);
                    metrics.settled(header.signal, header.items as usize);
                }
            }
        });
        if let Err(error) = scanned {
            tracing::warn!(file = %info.path.display(), %error, "Cannot read a disk queue segment before dropping it; its records are not counted.");
        }
        if let (Some(first), Some(last)) = (info.first_seq, info.last_seq) {
            self.shared.tracker().settle_range(first, last);
        }
        // The cursor moves past the dropped records before they go, so that recovery
        // always finds the record after the cursor first.
        self.shared.persist_cursor();
        if let Err(error) = fs::remove_file(&info.path) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %info.path.display(), %error, "Cannot delete a disk queue segment.");
            }
        }
        let gone = self.shared.segments().map.remove(&index);
        if let Some(gone) = gone {
            self.shared.add_disk_bytes(-(gone.len as i64));
        }
    }
}
