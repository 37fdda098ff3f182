//! The sending queue wrapped around every exporter (`sending_queue`, `retry_on_failure`).
//!
//! Our first promise: if Sentinel acknowledged your data, it will be delivered, whatever
//! crashes. So a client is acknowledged only once its data is in the queue:
//! - memory queue: in the queue's memory (lost if the agent crashes);
//! - disk queue: written to a segment file, and fsynced unless `fsync: never`.
//!
//! `num_consumers` tasks take records from the queue (merging consecutive small records of
//! one signal into one export), export them with retries and exponential backoff, and
//! write what the sink rejects for good to a dead-letter file. A disk queue deletes a
//! record only after the sink confirmed it; what is left at shutdown or after a crash is
//! delivered after the next start.

#[cfg(test)]
pub(crate) mod compliance;
pub(crate) mod dead_letter;
pub(crate) mod disk;
#[cfg(test)]
mod encoded_tests;
mod health;
mod memory;
pub(crate) mod metrics;
mod retry;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::sending::QueueKind;
use sentinel_pipeline::{
    BuildError, BuiltExporter, Consumer, Exporter, QueueSettings, SelfMetrics, Signal,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use dead_letter::DeadLetters;
use disk::{DiskConfig, DiskQueue, DiskThreads};
use memory::MemoryQueue;
use metrics::QueueMetrics;
use worker::{Delivery, Source};

/// The share of a queue that [`sentinel_pipeline::Consumer::has_room`] keeps free (1/8): receivers are refused
/// before decoding once the rest is full, so what they admitted just before (held by a
/// `batch` processor, being decoded) still finds room when it arrives, instead of being
/// decoded and then refused. `consume` itself uses the whole queue.
pub(crate) const ADMISSION_HEADROOM: usize = 8;

/// `limit` less the admission headroom (at least 1).
pub(crate) fn below_headroom(limit: usize) -> usize {
    (limit - limit / ADMISSION_HEADROOM).max(1)
}

#[doc(hidden)]
pub use disk::fuzz_scan_segment;
pub use disk::{inspect, InspectError, OpenError, QueueReport, SegmentReport};
pub use health::{Degraded, ExportHealth};

/// Where and under which name a queue runs.
#[derive(Clone)]
pub struct QueueContext {
    /// The exporter id as written in the config (`type` or `type/name`).
    pub id: String,
    pub metrics: Arc<SelfMetrics>,
    /// The agent's data directory. A disk queue lives in `<data_dir>/queues/<id>` unless
    /// `sending_queue.directory` says otherwise; memory queues dead-letter into
    /// `<data_dir>/dead-letter/<id>.jsonl`.
    pub data_dir: PathBuf,
}

/// An exporter id as a file name: `otlp/backend` → `otlp_backend`.
pub fn file_name_for(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The directory of a disk queue.
pub fn queue_directory(data_dir: &Path, id: &str, settings: &QueueSettings) -> PathBuf {
    settings
        .directory
        .clone()
        .unwrap_or_else(|| data_dir.join("queues").join(file_name_for(id)))
}

/// What to change when a disk queue's directory cannot be created or written.
fn directory_hint(settings: &QueueSettings) -> &'static str {
    if settings.directory.is_some() {
        "set `sending_queue.directory` to a directory the agent can write"
    } else {
        "set `service.data_dir` (`SENTINEL_DATA_DIR` in the shipped configs) to a directory \
         the agent can write"
    }
}

/// The dead-letter file of a queue.
pub fn dead_letter_path(data_dir: &Path, id: &str, settings: &QueueSettings) -> PathBuf {
    match settings.kind {
        QueueKind::Disk => queue_directory(data_dir, id, settings).join("dead-letter.jsonl"),
        QueueKind::Memory => data_dir
            .join("dead-letter")
            .join(format!("{}.jsonl", file_name_for(id))),
    }
}

enum Running {
    Memory(Arc<MemoryQueue>),
    Disk {
        queue: Arc<DiskQueue>,
        threads: DiskThreads,
    },
}

/// Controls a running queue. Drain it at shutdown; dropping it without draining stops
/// everything at once (a disk queue keeps what it has for the next start).
pub struct QueueHandle {
    running: Option<Running>,
    delivery: Arc<Delivery>,
    exporter: Arc<dyn Exporter>,
    consumers: Vec<JoinHandle<()>>,
    gauges: JoinHandle<()>,
}

/// Starts the queue and its consumers around a built exporter. Must be called inside a
/// tokio runtime. `signals` are the signals the exporter receives: their self-metrics
/// are registered at zero.
pub fn start_queue(
    ctx: QueueContext,
    built: BuiltExporter,
    signals: &[Signal],
) -> Result<(Arc<dyn Consumer>, QueueHandle), BuildError> {
    let BuiltExporter {
        exporter,
        queue: settings,
        retry,
    } = built;
    let metrics = QueueMetrics::new(&ctx.id, ctx.metrics.clone(), signals);
    let num_consumers = settings.num_consumers.max(1);
    let dead_letters = Arc::new(DeadLetters::new(
        dead_letter_path(&ctx.data_dir, &ctx.id, &settings),
        &ctx.id,
        settings.dead_letter.clone(),
        metrics.dead_letters_dropped.clone(),
    ));
    let delivery = Arc::new(Delivery {
        exporter: exporter.clone(),
        retry,
        metrics: metrics.clone(),
        health: Arc::new(ExportHealth::new(&ctx.id)),
        dead_letters,
        draining: CancellationToken::new(),
        stop: CancellationToken::new(),
        stop_retrying_when_draining: settings.kind == QueueKind::Disk,
    });
    let (consumer, source, running): (Arc<dyn Consumer>, Arc<dyn Source>, Running) =
        match settings.kind {
            QueueKind::Memory => {
                let max_bytes = usize::try_from(settings.budget_bytes()).unwrap_or(usize::MAX);
                let queue = Arc::new(MemoryQueue::new(
                    settings.queue_size,
                    max_bytes,
                    settings.when_full,
                    metrics.clone(),
                    exporter.takes_encoded(),
                ));
                (queue.clone(), queue.clone(), Running::Memory(queue))
            }
            QueueKind::Disk => {
                let dir = queue_directory(&ctx.data_dir, &ctx.id, &settings);
                let config = DiskConfig {
                    segment_size: DiskConfig::segment_size_for(settings.budget_bytes()),
                    dir: dir.clone(),
                    max_size: settings.budget_bytes(),
                    when_full: settings.when_full,
                    fsync: settings.fsync,
                    read_ahead: num_consumers,
                    forward_encoded: exporter.takes_encoded(),
                };
                let (queue, threads) =
                    DiskQueue::open(config, metrics.clone()).map_err(|e| BuildError::Other {
                        component: ctx.id.clone(),
                        message: format!(
                            "cannot open the disk queue in {}: {e}; {}",
                            dir.display(),
                            directory_hint(&settings)
                        ),
                    })?;
                (
                    queue.clone(),
                    queue.clone(),
                    Running::Disk { queue, threads },
                )
            }
        };
    let consumers = (0..num_consumers)
        .map(|_| tokio::spawn(worker::run_consumer(source.clone(), delivery.clone())))
        .collect();
    let gauges = tokio::spawn(refresh_gauges(gauge_source(&running)));
    let handle = QueueHandle {
        running: Some(running),
        delivery,
        exporter,
        consumers,
        gauges,
    };
    Ok((consumer, handle))
}

enum GaugeSource {
    Memory(Arc<MemoryQueue>),
    Disk(Arc<DiskQueue>),
}

fn gauge_source(running: &Running) -> GaugeSource {
    match running {
        Running::Memory(queue) => GaugeSource::Memory(queue.clone()),
        Running::Disk { queue, .. } => GaugeSource::Disk(queue.clone()),
    }
}

/// Keeps the oldest-record age and the byte gauge current.
async fn refresh_gauges(source: GaugeSource) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        match &source {
            GaugeSource::Memory(queue) => queue.refresh_gauges(),
            GaugeSource::Disk(queue) => queue.refresh_gauges(),
        }
    }
}

impl QueueHandle {
    /// The exporter's delivery health, for the admin `/readyz`.
    pub fn health(&self) -> Arc<ExportHealth> {
        self.delivery.health.clone()
    }

    /// Stops accepting, delivers what can be delivered before `deadline`, then shuts the
    /// exporter down. A disk queue keeps everything not confirmed for the next start; a
    /// memory queue counts what it could not deliver as dropped.
    pub async fn drain(mut self, deadline: Instant) {
        let Some(running) = self.running.take() else {
            return;
        };
        self.delivery.draining.cancel();
        match running {
            Running::Memory(queue) => {
                queue.close();
                self.wait_for_consumers(deadline).await;
                queue.stop();
                queue.refresh_gauges();
            }
            Running::Disk { queue, mut threads } => {
                let shared = queue.shared().clone();
                shared.closing.store(true, Ordering::Release);
                shared.wake_all();
                // The writer finishes what consume() accepted, fsyncs and exits.
                if !join_thread(threads.writer.take(), deadline).await {
                    shared.stop.store(true, Ordering::Release);
                    shared.wake_all();
                }
                self.wait_for_consumers(deadline).await;
                shared.stop.store(true, Ordering::Release);
                shared.wake_all();
                join_thread(threads.reader.take(), deadline + Duration::from_secs(1)).await;
                // A writer that missed the deadline must be gone before housekeeping.
                join_thread(threads.writer.take(), deadline + Duration::from_secs(1)).await;
                let housekeeping = shared.clone();
                let _ = tokio::task::spawn_blocking(move || housekeeping.housekeep()).await;
                queue.refresh_gauges();
                self.report_left_on_disk(&shared.config.dir);
            }
        }
        self.gauges.abort();
        let grace = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        if tokio::time::timeout(grace, self.exporter.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                exporter = self.delivery.metrics.id(),
                "Exporter shutdown did not finish in time."
            );
        }
    }

    /// Says at shutdown what the disk queue still holds, so a failing sink (a wrong
    /// password) does not hide data waiting on disk.
    fn report_left_on_disk(&self, dir: &Path) {
        let metrics = &self.delivery.metrics;
        let records = metrics.waiting_records();
        if records > 0 {
            tracing::warn!(
                exporter = metrics.id(),
                records,
                items = metrics.waiting_items(),
                bytes = metrics.bytes.get(),
                dir = %dir.display(),
                "Data left in the disk queue at shutdown; it is delivered after the next start."
            );
        }
    }

    /// Waits for the consumers to run out of work; at the deadline, interrupts them.
    async fn wait_for_consumers(&mut self, deadline: Instant) {
        let consumers = std::mem::take(&mut self.consumers);
        let mut all = futures::future::join_all(consumers);
        if tokio::time::timeout_at(deadline, &mut all).await.is_err() {
            tracing::warn!(
                exporter = self.delivery.metrics.id(),
                "Shutdown deadline reached before the sending queue was delivered."
            );
            self.delivery.stop.cancel();
            all.await;
        }
    }
}

/// Joins a thread from async code. False if it did not end by `deadline`.
async fn join_thread(thread: Option<std::thread::JoinHandle<()>>, deadline: Instant) -> bool {
    let Some(thread) = thread else {
        return true;
    };
    let joined = tokio::task::spawn_blocking(move || {
        let _ = thread.join();
    });
    tokio::time::timeout_at(deadline, joined).await.is_ok()
}

impl Drop for QueueHandle {
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        self.delivery.draining.cancel();
        self.delivery.stop.cancel();
        for consumer in &self.consumers {
            consumer.abort();
        }
        self.gauges.abort();
        match running {
            Running::Memory(queue) => queue.stop(),
            Running::Disk { queue, threads } => {
                let shared = queue.shared();
                shared.stop.store(true, Ordering::Release);
                shared.wake_all();
                // Both threads look at the stop flag at least every TICK.
                for thread in [threads.writer, threads.reader].into_iter().flatten() {
                    let _ = thread.join();
                }
            }
        }
    }
}
