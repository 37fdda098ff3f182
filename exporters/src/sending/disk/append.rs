//! Appending to the disk queue: the room checks and the hand-off to the writer thread,
//! shared by requests still encoded and requests encoded here.

use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;

use bytes::Bytes;
use sentinel_pipeline::sending::WhenFull;
use sentinel_pipeline::{Acks, Refusal, Signal};

use super::record::{self, HEADER_LEN, MAX_PAYLOAD_LEN};
use super::{writer, DiskQueue, CHANNEL_BYTES, CHANNEL_REQUESTS};
use crate::sending::metrics::now_ms;

/// What the queue checks before a request is encoded (if it is not yet).
pub(super) struct Record {
    pub signal: Signal,
    pub items: usize,
    pub len: usize,
}

impl DiskQueue {
    fn refuse(
        &self,
        signal: Signal,
        acks: &Acks,
        items: usize,
        refusal: Refusal,
    ) -> Result<(), Refusal> {
        self.shared.metrics.signal(signal).refused(items);
        acks.refuse(&refusal);
        Err(refusal)
    }

    /// Checks the room for a record of `record.len` bytes, then hands `encode()` to the
    /// writer.
    pub(super) fn append(
        &self,
        record: Record,
        acks: Acks,
        encode: impl FnOnce() -> Bytes,
    ) -> Result<(), Refusal> {
        let shared = &self.shared;
        let Record { signal, items, len } = record;
        if let Err(refusal) = self.check_room(len) {
            return self.refuse(signal, &acks, items, refusal);
        }
        let bytes = encode();
        shared
            .channel_bytes
            .fetch_add(bytes.len() as u64, Ordering::AcqRel);
        let append = writer::Append {
            signal,
            items,
            appended_ms: now_ms(),
            acks: writer::AckGuard::new(acks),
            bytes,
        };
        match self.to_writer.try_send(append) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(append)) | Err(TrySendError::Disconnected(append)) => {
                shared
                    .channel_bytes
                    .fetch_sub(append.bytes.len() as u64, Ordering::AcqRel);
                let id = shared.metrics.id();
                let refusal = if shared.closing.load(Ordering::Acquire) || shared.stopping() {
                    Refusal::unavailable(format!("exporter {id} is shutting down"))
                } else {
                    Refusal::capacity(format!(
                        "exporter {id}: the disk queue writer is behind ({CHANNEL_REQUESTS} requests waiting)"
                    ))
                };
                append.acks.refuse(&refusal);
                shared.metrics.signal(signal).refused(items);
                Err(refusal)
            }
        }
    }

    /// Why a record of `len` bytes cannot be appended now, if it cannot.
    fn check_room(&self, len: usize) -> Result<(), Refusal> {
        let shared = &self.shared;
        let id = shared.metrics.id();
        if shared.closing.load(Ordering::Acquire) || shared.stopping() {
            return Err(Refusal::unavailable(format!(
                "exporter {id} is shutting down"
            )));
        }
        let max_size = shared.config.max_size;
        let record_len = (HEADER_LEN + len) as u64;
        if len > MAX_PAYLOAD_LEN || record_len + record::SEGMENT_MAGIC.len() as u64 > max_size {
            return Err(Refusal::capacity(format!(
                "exporter {id}: a request of {len} bytes does not fit the disk queue (max_size {max_size} bytes)"
            )));
        }
        let pending = shared.channel_bytes.load(Ordering::Acquire);
        if pending > 0 && pending + len as u64 > CHANNEL_BYTES {
            return Err(Refusal::capacity(format!(
                "exporter {id}: the disk queue writer is behind ({pending} bytes waiting)"
            )));
        }
        if shared.config.when_full == WhenFull::Refuse {
            let used = shared.disk_bytes.load(Ordering::Acquire);
            if used + pending + record_len > max_size {
                return Err(Refusal::capacity(format!(
                    "exporter {id}: disk queue full ({used} of {max_size} bytes used)"
                )));
            }
        }
        Ok(())
    }
}
