//! The sending queue as the exporter compliance runner starts it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sentinel_pipeline::testing::{DeliveredItems, QueueUnderTest};
use sentinel_pipeline::{BuildError, BuiltExporter, SelfMetrics, Signal};

use super::{start_queue, QueueContext};

/// A [`sentinel_pipeline::testing::StartQueue`] backed by the real sending queue.
pub fn start_for_compliance(
    id: &str,
    metrics: Arc<SelfMetrics>,
    data_dir: &Path,
    built: BuiltExporter,
    signals: &[Signal],
) -> Result<QueueUnderTest, BuildError> {
    let context = QueueContext {
        id: id.to_string(),
        metrics,
        data_dir: data_dir.to_path_buf(),
    };
    let (consumer, handle) = start_queue(context, built, signals)?;
    Ok(QueueUnderTest {
        consumer,
        drain: Box::new(move |deadline| Box::pin(handle.drain(deadline))),
    })
}

/// Counts what a test sink adds to `items`, for [`ExporterCompliance::delivered_items`].
///
/// [`ExporterCompliance::delivered_items`]: sentinel_pipeline::testing::ExporterCompliance::delivered_items
pub fn counted_by(items: Arc<AtomicU64>) -> DeliveredItems {
    Box::new(move || {
        let items = items.clone();
        Box::pin(async move { items.load(Ordering::SeqCst) })
    })
}
