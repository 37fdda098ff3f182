//! The reader thread: reads records in sequence order, skips settled ones, decodes the
//! rest and queues batches for the consumers.

use std::fs::File;
use std::sync::Arc;

use sentinel_pipeline::{Encoded, Held, Payload};

use super::record::SEGMENT_MAGIC;
use super::scan::{Chain, Entry, Records};
use super::segment::{read_range, records_start};
use super::{Shared, TICK};
use crate::sending::worker::{Batch, Piece};

/// The segment being read.
struct Open {
    index: u64,
    file: File,
    /// File offset up to which records were walked.
    position: u64,
    /// Where its records start (after the segment header).
    start: u64,
    /// Damage here was counted at start-up.
    quiet: bool,
}

struct Reader {
    shared: Arc<Shared>,
    batch: Batch,
    /// The highest sequence handed out; anything at or below is a stale duplicate.
    last_seq: Option<u64>,
    /// Lowest segment index still to open.
    next_index: u64,
    /// The same sequence checks as recovery, so a record recovery rejected is never
    /// replayed either.
    chain: Chain,
}

pub(crate) fn run(shared: Arc<Shared>) {
    let mut reader = Reader {
        batch: Batch::default(),
        last_seq: None,
        next_index: 0,
        chain: Chain::new(shared.start_cursor),
        shared,
    };
    reader.run();
    reader.shared.ready().reader_done = true;
    reader.shared.ready_changed.notify_waiters();
}

enum Limit {
    /// Whole records end here; more may follow.
    Growing(u64),
    /// The segment is complete at this length.
    Sealed(u64),
    /// Deleted: everything in it is settled.
    Gone,
}

impl Reader {
    fn run(&mut self) {
        let mut open: Option<Open> = None;
        while !self.shared.stopping() {
            let Some(current) = open.as_mut() else {
                match self.open_next() {
                    Next::Opened(next) => open = Some(next),
                    Next::Wait => self.wait_for_writer(None),
                    Next::Skipped => {}
                    Next::Done => break,
                }
                continue;
            };
            let limit = self.limit(current.index);
            let end = match limit {
                Limit::Growing(len) | Limit::Sealed(len) => len,
                Limit::Gone => {
                    open = None;
                    continue;
                }
            };
            if end > current.position {
                let bytes = match read_range(
                    &mut current.file,
                    current.position,
                    end - current.position,
                ) {
                    Ok(bytes) => bytes,
                    Err(error) => {
                        tracing::error!(
                            exporter = self.shared.metrics.id(),
                            segment = current.index,
                            %error,
                            "Cannot read a disk queue segment; its remaining records stay on disk for the next start."
                        );
                        open = None;
                        continue;
                    }
                };
                if !self.walk(current, &bytes) {
                    return;
                }
            }
            if !self.hand_over() {
                return;
            }
            match limit {
                Limit::Sealed(_) => open = None,
                Limit::Growing(len) => self.wait_for_writer(Some((current.index, len))),
                Limit::Gone => {}
            }
        }
        self.hand_over();
    }

    fn limit(&self, index: u64) -> Limit {
        let segments = self.shared.segments();
        match segments.map.get(&index) {
            None => Limit::Gone,
            Some(info) if index == segments.active && !segments.writer_done => {
                Limit::Growing(info.len)
            }
            Some(info) => Limit::Sealed(info.len),
        }
    }

    fn open_next(&mut self) -> Next {
        let next = {
            let segments = self.shared.segments();
            match segments.map.range(self.next_index..).next() {
                Some((index, info)) => Some((*index, info.path.clone(), info.replayed)),
                None if segments.writer_done => return Next::Done,
                None => None,
            }
        };
        let Some((index, path, quiet)) = next else {
            return Next::Wait;
        };
        self.next_index = index + 1;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) => {
                if self.shared.segments().map.contains_key(&index) {
                    tracing::error!(
                        exporter = self.shared.metrics.id(),
                        file = %path.display(),
                        %error,
                        "Cannot open a disk queue segment; its records stay on disk for the next start."
                    );
                }
                return Next::Skipped;
            }
        };
        let head = read_range(&mut file, 0, SEGMENT_MAGIC.len() as u64).unwrap_or_default();
        let start = records_start(&head) as u64;
        Next::Opened(Open {
            index,
            file,
            position: start,
            start,
            quiet,
        })
    }

    /// Walks records read from `current` into batches. False if the queue stopped.
    fn walk(&mut self, current: &mut Open, bytes: &[u8]) -> bool {
        let at_start = current.position == current.start;
        // Taken out while walking: the loop needs `self` too. A stopped reader exits.
        let mut chain = std::mem::replace(&mut self.chain, Chain::new(None));
        let mut records = Records::new(bytes, &mut chain, at_start);
        for entry in records.by_ref() {
            match entry {
                Entry::Record {
                    header, payload, ..
                } => {
                    if self.last_seq.is_some_and(|last| header.seq <= last)
                        || self.shared.tracker().is_settled(header.seq)
                    {
                        continue;
                    }
                    self.last_seq = Some(header.seq);
                    let payload_len = payload.len();
                    let items = header.items as usize;
                    let data = if self.shared.config.forward_encoded {
                        // Checksummed, and written from a request that decoded.
                        let bytes = bytes::Bytes::copy_from_slice(payload);
                        Held::Encoded(Encoded::new(header.signal, bytes, items))
                    } else {
                        match Payload::decode(header.signal, payload) {
                            Ok(decoded) => Held::Decoded(decoded),
                            Err(error) => {
                                self.undecodable(header.seq, header.signal, header.items, &error);
                                continue;
                            }
                        }
                    };
                    if !self.batch.fits(header.signal, items, payload_len) && !self.hand_over() {
                        return false;
                    }
                    self.shared
                        .tracker()
                        .start_flight(header.seq, header.appended_ms);
                    let piece = Piece {
                        data: Arc::new(data),
                        items,
                        seq: header.seq,
                    };
                    self.batch.push(piece, payload_len);
                }
                Entry::Corrupt { offset, len } => {
                    if !current.quiet {
                        self.shared.metrics.corrupt.inc();
                        tracing::warn!(
                            exporter = self.shared.metrics.id(),
                            segment = current.index,
                            offset = current.position + offset as u64,
                            bytes = len,
                            "Skipping a damaged record in the disk queue."
                        );
                    }
                }
            }
        }
        current.position += records.position() as u64;
        self.chain = chain;
        true
    }

    fn undecodable(
        &self,
        seq: u64,
        signal: sentinel_pipeline::Signal,
        items: u32,
        error: &prost::DecodeError,
    ) {
        // The checksum matched, so this was written like that: count it as damage, settle
        // it so the cursor can move on.
        let metrics = &self.shared.metrics;
        metrics.corrupt.inc();
        metrics.signal(signal).failed(items as usize);
        if self.shared.tracker().settle(seq) {
            metrics.settled(signal, items as usize);
        }
        tracing::error!(
            exporter = metrics.id(),
            seq,
            %error,
            "A disk queue record does not decode as an OTLP request; skipping it."
        );
    }

    /// Queues the current batch for the consumers, waiting for room. False if stopped.
    fn hand_over(&mut self) -> bool {
        if self.batch.pieces.is_empty() {
            return true;
        }
        let mut ready = self.shared.ready();
        while ready.batches.len() >= self.shared.config.read_ahead.max(1) {
            if self.shared.stopping() {
                return false;
            }
            ready = self
                .shared
                .ready_space
                .wait_timeout(ready, TICK)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        ready.batches.push_back(std::mem::take(&mut self.batch));
        drop(ready);
        self.shared.ready_changed.notify_waiters();
        true
    }

    /// Waits until the writer appends past `(index, len)`, rotates, or exits.
    fn wait_for_writer(&self, at: Option<(u64, u64)>) {
        let segments = self.shared.segments();
        let moved = |s: &super::Segments| match at {
            Some((index, len)) => {
                s.writer_done
                    || s.active != index
                    || s.map.get(&index).is_none_or(|info| info.len > len)
            }
            None => s.writer_done || s.map.range(self.next_index..).next().is_some(),
        };
        if moved(&segments) {
            return;
        }
        let _ = self.shared.appended.wait_timeout(segments, TICK);
    }
}

enum Next {
    Opened(Open),
    /// Could not be opened (deleted meanwhile, or an error that was logged).
    Skipped,
    Wait,
    Done,
}
