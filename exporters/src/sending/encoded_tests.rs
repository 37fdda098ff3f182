//! Requests a receiver forwards still encoded: kept that way up to exporters that send
//! protobuf, decoded for the others, by the memory and the disk queue alike.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::sending::{FsyncPolicy, WhenFull};
use sentinel_pipeline::{QueueSettings, Signal};

use super::test_support::*;

const WAIT: Duration = Duration::from_secs(10);

/// Sends two requests encoded and one decoded, drains, and checks every body arrived
/// once, in order, and the counts. Returns the sink.
async fn deliver_mixed(sink: Arc<TestSink>, queue: QueueSettings) -> Arc<TestSink> {
    let dir = tempfile::tempdir().unwrap();
    let harness = start(dir.path(), &sink, queue, fast_retry());
    assert!(harness.consumer.takes_encoded(Signal::Logs) || !sink.keeps_encoded);
    assert!(harness.send_encoded_acked(logs("e1", 2)).await);
    assert!(harness.send_acked(logs("d2", 3)).await);
    assert!(harness.send_encoded_acked(logs("e3", 1)).await);
    let metrics = harness.metrics.clone();
    harness.drain_within(WAIT).await;
    // One body per request (see `bodies`).
    assert_eq!(sink.delivered(), ["e1", "d2", "e3"]);
    let counts = sentinel_pipeline::testing::component_counts(
        &metrics,
        sentinel_pipeline::Kind::Exporter,
        ID,
        Signal::Logs,
    );
    assert_eq!((counts.received, counts.sent, counts.dropped), (6, 6, 0));
    sink
}

#[tokio::test]
async fn a_memory_queue_keeps_requests_encoded_for_an_exporter_that_takes_them() {
    let sink = deliver_mixed(
        TestSink::keeping_encoded(),
        memory_settings(10, WhenFull::Refuse),
    )
    .await;
    assert_eq!(sink.encoded_seen.load(Ordering::SeqCst), 2);
    assert_eq!(sink.decoded_seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_memory_queue_decodes_for_an_exporter_that_does_not() {
    let sink = deliver_mixed(TestSink::accepting(), memory_settings(10, WhenFull::Refuse)).await;
    assert_eq!(sink.encoded_seen.load(Ordering::SeqCst), 0);
    assert_eq!(sink.decoded_seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_disk_queue_hands_stored_bytes_on_undecoded_only_to_an_exporter_that_takes_them() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let settings = |dir: &tempfile::TempDir| disk_settings(dir.path(), 8 << 20, FsyncPolicy::Never);
    let keeping = deliver_mixed(TestSink::keeping_encoded(), settings(&first)).await;
    assert_eq!(keeping.encoded_seen.load(Ordering::SeqCst), 3);
    assert_eq!(keeping.decoded_seen.load(Ordering::SeqCst), 0);
    let decoding = deliver_mixed(TestSink::accepting(), settings(&second)).await;
    assert_eq!(decoding.encoded_seen.load(Ordering::SeqCst), 0);
    assert_eq!(decoding.decoded_seen.load(Ordering::SeqCst), 3);
}
