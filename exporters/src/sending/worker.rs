//! The consumers of a queue: take a batch, export it with retries, settle every record.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use sentinel_pipeline::{
    ExportError, Exporter, Held, RetrySettings, SharedBatch, SharedRecord, Signal,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::dead_letter::DeadLetters;
use super::health::ExportHealth;
use super::metrics::QueueMetrics;
use super::retry::Backoff;

/// Most items merged into one export.
pub(crate) const MAX_BATCH_ITEMS: usize = 8192;
/// Most bytes merged into one export (sinks often cap requests at 4 MiB): encoded bytes
/// from a disk queue, decoded bytes (an upper bound of the encoded) from a memory queue.
pub(crate) const MAX_BATCH_BYTES: usize = 2 << 20;

/// One record of a queue: one request as it was accepted.
#[derive(Debug)]
pub(crate) struct Piece {
    /// Shared with every export attempt, never copied for one.
    pub data: Arc<Held>,
    pub items: usize,
    pub seq: u64,
}

/// Consecutive records of one signal, exported together.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub pieces: Vec<Piece>,
    pub items: usize,
    pub bytes: usize,
}

impl Batch {
    /// Whether a record of this signal, size and item count may join the batch.
    pub fn fits(&self, signal: Signal, items: usize, bytes: usize) -> bool {
        match self.pieces.first() {
            None => true,
            Some(first) => {
                first.data.signal() == signal
                    && self.items + items <= MAX_BATCH_ITEMS
                    && self.bytes + bytes <= MAX_BATCH_BYTES
            }
        }
    }

    pub fn push(&mut self, piece: Piece, bytes: usize) {
        self.items += piece.items;
        self.bytes += bytes;
        self.pieces.push(piece);
    }
}

/// How a record left the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    Delivered,
    DeadLettered,
    /// Shutdown stopped the delivery: the record stays in a disk queue, is lost from a
    /// memory queue.
    Interrupted,
}

/// Where consumers take records from: the memory or the disk queue.
#[async_trait]
pub(crate) trait Source: Send + Sync + 'static {
    /// The next batch, or `None` once the queue is closed and empty (or stopped).
    async fn next_batch(&self) -> Option<Batch>;

    /// The queue's identity, handed to the exporter with each batch (see [`RecordBatch`]).
    fn queue_id(&self) -> u128;

    /// Records the outcome of one record. Returns false if the record was settled before
    /// (dropped by policy while in flight), so that it is not counted twice.
    fn settle(&self, piece: &Piece, settlement: Settlement) -> bool;
}

/// What every consumer of one queue shares.
pub(crate) struct Delivery {
    pub exporter: Arc<dyn Exporter>,
    pub retry: RetrySettings,
    pub metrics: Arc<QueueMetrics>,
    pub health: Arc<ExportHealth>,
    pub dead_letters: Arc<DeadLetters>,
    /// Cancelled when draining starts.
    pub draining: CancellationToken,
    /// Cancelled at the drain deadline, or when the queue is dropped without draining.
    pub stop: CancellationToken,
    /// Disk queues stop backing off once draining starts: the data is safe on disk.
    pub stop_retrying_when_draining: bool,
}

enum Attempts {
    Delivered,
    Permanent(String),
    GaveUp(String),
    Interrupted,
}

pub(crate) async fn run_consumer(source: Arc<dyn Source>, delivery: Arc<Delivery>) {
    while let Some(batch) = source.next_batch().await {
        if delivery.deliver_batch(source.as_ref(), batch).await == Settlement::Interrupted {
            break;
        }
    }
}

impl Delivery {
    /// Delivers a batch; if the sink rejects a merged batch for good, tries its records
    /// one by one so that one bad request does not take its neighbours down with it.
    async fn deliver_batch(&self, source: &dyn Source, batch: Batch) -> Settlement {
        let Batch { pieces, .. } = batch;
        let queue_id = source.queue_id();
        match self.attempt(|| records(queue_id, &pieces)).await {
            Attempts::Delivered => self.settle_all(source, &pieces, Settlement::Delivered),
            Attempts::Interrupted => self.settle_all(source, &pieces, Settlement::Interrupted),
            Attempts::GaveUp(reason) => self.dead_letter(source, &pieces, &reason).await,
            Attempts::Permanent(reason) if pieces.len() == 1 => {
                self.dead_letter(source, &pieces, &reason).await
            }
            Attempts::Permanent(_) => {
                for (index, piece) in pieces.iter().enumerate() {
                    let one = std::slice::from_ref(piece);
                    let settlement = match self.attempt(|| records(queue_id, one)).await {
                        Attempts::Delivered => self.settle_all(source, one, Settlement::Delivered),
                        Attempts::Permanent(reason) | Attempts::GaveUp(reason) => {
                            self.dead_letter(source, one, &reason).await
                        }
                        Attempts::Interrupted => Settlement::Interrupted,
                    };
                    if settlement == Settlement::Interrupted {
                        return self.settle_all(source, &pieces[index..], Settlement::Interrupted);
                    }
                }
                Settlement::Delivered
            }
        }
    }

    fn settle_all(
        &self,
        source: &dyn Source,
        pieces: &[Piece],
        settlement: Settlement,
    ) -> Settlement {
        for piece in pieces {
            let signal = piece.data.signal();
            if !source.settle(piece, settlement) {
                continue;
            }
            match settlement {
                Settlement::Delivered => self.metrics.signal(signal).sent(piece.items),
                Settlement::DeadLettered => {
                    self.metrics.signal(signal).failed(piece.items);
                    self.metrics.dead_lettered.inc_by(piece.items as u64);
                }
                Settlement::Interrupted => {}
            }
        }
        settlement
    }

    async fn dead_letter(&self, source: &dyn Source, pieces: &[Piece], reason: &str) -> Settlement {
        let records: Vec<Arc<Held>> = pieces.iter().map(|p| p.data.clone()).collect();
        let letters = self.dead_letters.clone();
        let reason_owned = reason.to_string();
        let written = tokio::task::spawn_blocking(move || {
            records
                .iter()
                .try_for_each(|data| letters.write(&data.to_payload(), &reason_owned))
        })
        .await;
        let items: usize = pieces.iter().map(|p| p.items).sum();
        match written {
            Ok(Ok(())) => tracing::warn!(
                exporter = self.metrics.id(),
                items,
                reason,
                file = %self.dead_letters.path().display(),
                "Export failed for good; the data was written to the dead-letter file."
            ),
            Ok(Err(error)) => tracing::error!(
                exporter = self.metrics.id(),
                items,
                reason,
                %error,
                file = %self.dead_letters.path().display(),
                "Export failed for good and the dead-letter file cannot be written; the data is lost."
            ),
            Err(error) => tracing::error!(
                exporter = self.metrics.id(),
                items,
                reason,
                %error,
                "Export failed for good and writing the dead letter did not finish; the data is lost."
            ),
        }
        self.settle_all(source, pieces, Settlement::DeadLettered)
    }

    /// Exports until delivered, rejected for good, out of retry budget, or interrupted.
    async fn attempt(&self, batch: impl Fn() -> SharedBatch) -> Attempts {
        let started = Instant::now();
        let mut backoff = Backoff::new(&self.retry);
        let mut failures = 0u32;
        loop {
            let result = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Attempts::Interrupted,
                result = self.export_once(batch()) => result,
            };
            let (message, retry_after) = match result {
                Ok(()) => {
                    self.health.delivered();
                    return Attempts::Delivered;
                }
                Err(ExportError::Permanent { message }) => {
                    self.health.failed(&message);
                    return Attempts::Permanent(message);
                }
                Err(ExportError::Retryable {
                    message,
                    retry_after,
                }) => (message, retry_after),
            };
            self.health.failed(&message);
            if !self.retry.enabled {
                return Attempts::GaveUp(format!(
                    "export failed and retry_on_failure is disabled: {message}"
                ));
            }
            let delay = backoff.next_delay(retry_after, &mut rand::rng());
            let elapsed = started.elapsed();
            let budget = self.retry.max_elapsed_time;
            if !budget.is_zero() && elapsed + delay > budget {
                return Attempts::GaveUp(format!(
                    "gave up after {} attempts in {}: {message}",
                    failures + 1,
                    humantime::format_duration(round_ms(elapsed))
                ));
            }
            failures += 1;
            tracing::debug!(exporter = self.metrics.id(), error = %message, failures, retry_in = ?delay, "Export failed; retrying.");
            self.metrics.retries.inc();
            if !self.back_off(delay).await {
                return Attempts::Interrupted;
            }
        }
    }

    /// One export call. A panicking exporter fails the data for good rather than killing
    /// this consumer (and, with it, the delivery of everything behind the record).
    async fn export_once(&self, batch: SharedBatch) -> Result<(), ExportError> {
        match AssertUnwindSafe(self.exporter.export_shared(batch))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                Err(ExportError::permanent(format!("exporter panicked: {what}")))
            }
        }
    }

    /// Sleeps; false if shutdown cut the sleep short.
    async fn back_off(&self, delay: Duration) -> bool {
        let draining = async {
            if self.stop_retrying_when_draining {
                self.draining.cancelled().await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.stop.cancelled() => false,
            _ = draining => false,
        }
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// The pieces as the exporter sees them, with their identities: shared, not copied.
fn records(queue_id: u128, pieces: &[Piece]) -> SharedBatch {
    SharedBatch {
        queue_id,
        records: pieces
            .iter()
            .map(|piece| SharedRecord {
                seq: piece.seq,
                data: piece.data.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(signal: Signal, items: usize) -> Piece {
        Piece {
            data: Arc::new(Held::Decoded(sentinel_pipeline::Payload::empty(signal))),
            items,
            seq: 0,
        }
    }

    #[test]
    fn batches_hold_one_signal_within_item_and_byte_limits() {
        let mut batch = Batch::default();
        assert!(
            batch.fits(Signal::Logs, MAX_BATCH_ITEMS + 1, MAX_BATCH_BYTES + 1),
            "the first record always fits"
        );
        batch.push(piece(Signal::Logs, 8000), 1000);
        assert!(!batch.fits(Signal::Traces, 1, 10), "never mixes signals");
        assert!(batch.fits(Signal::Logs, MAX_BATCH_ITEMS - 8000, 10));
        assert!(!batch.fits(Signal::Logs, MAX_BATCH_ITEMS - 8000 + 1, 10));
        assert!(!batch.fits(Signal::Logs, 1, MAX_BATCH_BYTES - 1000 + 1));
    }

    #[test]
    fn merging_keeps_every_piece_in_order() {
        let pieces: Vec<Piece> = ["a", "b", "c"]
            .iter()
            .map(|body| Piece {
                data: Arc::new(Held::Decoded(crate::sending::test_support::logs(body, 2))),
                items: 2,
                seq: 0,
            })
            .collect();
        let batch = records(7, &pieces);
        assert_eq!(batch.queue_id, 7);
        let merged = batch.to_record_batch().into_payload();
        assert_eq!(
            crate::sending::test_support::bodies(&merged),
            ["a", "b", "c"]
        );
        assert_eq!(merged.item_count(), 6);
    }
}
