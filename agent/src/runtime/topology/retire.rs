//! Letting the replaced parts go without losing what they acknowledged: removed receivers
//! stop; replaced pipelines drain once no source feeds them any more (their channel
//! closes), upstream first, flushing into the queues they had; replaced queues then
//! deliver what they hold (memory) or leave it on disk for the queue that reopens there.

use std::time::Duration;

use sentinel_pipeline::sending::QueueKind;
use tokio::time::{timeout, timeout_at, Instant};

use super::apply::LateQueue;
use super::build::Build;
use super::{retire_timeout, RunningExporter, RunningPipeline, RunningReceiver, Topology};
use crate::config::ComponentId;

/// What a replaced disk queue gets to deliver before its replacement opens the directory
/// (the rest is replayed by the replacement).
const DISK_HANDOVER: Duration = Duration::from_secs(1);

/// How long a retired pipeline that would not drain gets once told to stop.
const FORCED_STOP: Duration = Duration::from_secs(1);

impl Topology {
    pub(super) async fn retire(
        &mut self,
        b: &Build<'_>,
        pipelines: Vec<RunningPipeline>,
        receivers: Vec<(ComponentId, RunningReceiver)>,
        queues: Vec<RunningExporter>,
        late: Vec<LateQueue>,
    ) {
        let limit = retire_timeout(b.config);
        for (id, receiver) in receivers {
            receiver.stop.cancel();
            if timeout(limit, receiver.running.task).await.is_err() {
                tracing::warn!(receiver = %id, "Removed receiver did not stop in time.");
            }
        }
        for pipeline in pipelines {
            retire_pipeline(pipeline, Instant::now() + limit).await;
        }
        for queue in queues {
            let reopens = late.iter().any(|l| l.id == queue.id);
            if reopens {
                // What is left stays on disk and the reopened queue replays it.
                queue.handle.drain(Instant::now() + DISK_HANDOVER).await;
            } else if queue.queue.kind == QueueKind::Disk {
                // The directory must be free before the exporter can come back.
                queue.handle.drain(Instant::now() + limit).await;
            } else {
                tokio::spawn(queue.handle.drain(Instant::now() + limit));
            }
        }
        for queue in late {
            match b.start_exporter(&queue.id, &queue.node, queue.built, &queue.signals) {
                Ok(running) => {
                    queue.sink.set(running.consumer.clone());
                    self.queues.push(running);
                }
                Err(err) => tracing::error!(
                    exporter = %queue.id,
                    error = %err,
                    "Could not reopen the exporter's queue after a reload; its data is refused until the next reload."
                ),
            }
        }
    }
}

/// Waits for the pipeline to drain on its own (its sources let go); past `deadline` it is
/// told to stop, which refuses what still arrives (clients retry).
async fn retire_pipeline(pipeline: RunningPipeline, deadline: Instant) {
    let RunningPipeline {
        name,
        stop,
        mut task,
        sinks,
        ..
    } = pipeline;
    if timeout_at(deadline, &mut task).await.is_err() {
        tracing::warn!(pipeline = %name, "Replaced pipeline still had sources at the deadline; stopping it.");
        stop.cancel();
        if timeout(FORCED_STOP, &mut task).await.is_err() {
            task.abort();
        }
    }
    // Its sinks (a replaced connector among them) go now, so pipelines downstream of
    // that connector can close next.
    drop(sinks);
}
