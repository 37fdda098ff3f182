//! Disk queue: durability across restarts, confirmation, damage, budget and fsync.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sentinel_pipeline::sending::{FsyncPolicy, WhenFull};
use sentinel_pipeline::{ExportError, RetrySettings, Signal};
use tokio::time::Instant;

use super::record::{HEADER_LEN, SEGMENT_MAGIC};
use super::scan::{Chain, Entry, Records};
use super::segment::list_segments;
use crate::sending::test_support::*;
use crate::sending::{inspect, QueueReport};

const WAIT: Duration = Duration::from_secs(10);
const ALWAYS: FsyncPolicy = FsyncPolicy::Always;

fn queue_dir(root: &Path) -> PathBuf {
    root.join("queue")
}

/// Runs a queue whose sink is down, accepts `bodies`, and "crashes" (drops the queue
/// without draining). Returns how many requests were acknowledged.
async fn accept_then_crash(
    root: &Path,
    settings: sentinel_pipeline::QueueSettings,
    bodies: &[String],
) -> usize {
    let sink = TestSink::failing(ExportError::retryable("sink down"));
    let harness = start(root, &sink, settings, fast_retry());
    let mut acked = 0;
    for body in bodies {
        if harness.send_acked(logs(body, 2)).await {
            acked += 1;
        }
    }
    drop(harness);
    acked
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn acknowledged_data_survives_a_crash_and_is_delivered_after_restart() {
    let root = tempfile::tempdir().unwrap();
    let settings = disk_settings(&queue_dir(root.path()), 1 << 20, ALWAYS);
    let sent = names("crash-", 20);
    assert_eq!(
        accept_then_crash(root.path(), settings.clone(), &sent).await,
        20
    );

    let report = inspect(&queue_dir(root.path())).unwrap();
    assert_eq!(
        (report.unconfirmed_records, report.unconfirmed_items),
        (20, 40)
    );
    assert_eq!(report.confirmed_through, None);
    assert!(report.oldest_unconfirmed_age().unwrap() < Duration::from_secs(60));
    assert!(
        report
            .to_string()
            .contains("unconfirmed:     20 record(s), 40 item(s)"),
        "{report}"
    );

    let sink = TestSink::accepting();
    let harness = start(root.path(), &sink, settings.clone(), fast_retry());
    wait_until("every record is redelivered", WAIT, || {
        sink.delivered().len() >= 20
    })
    .await;
    assert_eq!(sorted(sink.delivered()), sent, "each exactly once");
    let counts = harness.counts(Signal::Logs);
    assert_eq!(
        (counts.received, counts.sent, counts.queue_size),
        (0, 40, 0)
    );
    harness.drain_within(WAIT).await;

    let report = inspect(&queue_dir(root.path())).unwrap();
    assert_eq!(report.confirmed_through, Some(20));
    assert_eq!(report.unconfirmed_records, 0);
    assert!(
        report.segments.is_empty(),
        "fully confirmed segments are deleted: {report}"
    );

    // A third start has nothing to send again.
    let sink = TestSink::accepting();
    let harness = start(root.path(), &sink, settings, fast_retry());
    assert!(harness.send_acked(logs("new", 1)).await);
    wait_until("the new record is delivered", WAIT, || {
        !sink.delivered().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.delivered(), ["new"]);
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn segments_and_cursor_move_only_after_the_sink_confirms() {
    let root = tempfile::tempdir().unwrap();
    let dir = queue_dir(root.path());
    // 64 KiB budget → 8 KiB segments; ~1 KiB records.
    let settings = disk_settings(&dir, 64 << 10, ALWAYS);
    let sink = TestSink::gated();
    let harness = start(root.path(), &sink, settings, fast_retry());
    let body = "x".repeat(900);
    for _ in 0..30 {
        assert!(harness.send_acked(logs(&body, 1)).await);
    }
    let segments_before = list_segments(&dir).unwrap().len();
    assert!(segments_before >= 3, "{segments_before} segments");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        list_segments(&dir).unwrap().len(),
        segments_before,
        "nothing deleted yet"
    );
    assert!(!dir.join("cursor").exists(), "nothing confirmed yet");
    assert!(harness.queue_metric("sentinel_queue_bytes") > (24 << 10) as f64);

    sink.open_gate();
    wait_until("all delivered", WAIT, || sink.delivered().len() == 30).await;
    wait_until("the cursor reaches the last record", WAIT, || {
        fs::read_to_string(dir.join("cursor")).is_ok_and(|c| c.trim() == "30")
    })
    .await;
    wait_until("delivered segments are deleted", WAIT, || {
        list_segments(&dir).unwrap().len() == 1
    })
    .await;
    let counts = harness.counts(Signal::Logs);
    assert_eq!(
        (counts.received, counts.sent, counts.queue_size),
        (30, 30, 0)
    );
    harness.drain_within(WAIT).await;
}

/// Offsets of every record in a segment file.
fn record_offsets(path: &Path) -> Vec<usize> {
    let bytes = fs::read(path).unwrap();
    Records::new(&bytes[SEGMENT_MAGIC.len()..], &mut Chain::new(None), true)
        .filter_map(|entry| match entry {
            Entry::Record { offset, .. } => Some(offset + SEGMENT_MAGIC.len()),
            Entry::Corrupt { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn damaged_and_torn_records_are_skipped_counted_and_the_rest_delivered() {
    let root = tempfile::tempdir().unwrap();
    let dir = queue_dir(root.path());
    let settings = disk_settings(&dir, 1 << 20, ALWAYS);
    let sent = names("rec-", 10);
    assert_eq!(
        accept_then_crash(root.path(), settings.clone(), &sent).await,
        10
    );

    let segments = list_segments(&dir).unwrap();
    let (_, path) = segments
        .iter()
        .find(|(_, p)| record_offsets(p).len() == 10)
        .expect("one segment holds all ten");
    let offsets = record_offsets(path);
    let mut bytes = fs::read(path).unwrap();
    bytes[offsets[3] + HEADER_LEN + 5] ^= 0x5a; // flip payload bits of rec-003
    bytes.truncate(offsets[9] + HEADER_LEN + 4); // tear rec-009 mid-payload
    fs::write(path, &bytes).unwrap();

    let sink = TestSink::accepting();
    let harness = start(root.path(), &sink, settings, fast_retry());
    assert_eq!(
        harness.queue_metric("sentinel_queue_corrupt_records_total"),
        2.0
    );
    wait_until("the intact records are delivered", WAIT, || {
        sink.delivered().len() >= 8
    })
    .await;
    let expected: Vec<String> = sent
        .iter()
        .filter(|b| *b != "rec-003" && *b != "rec-009")
        .cloned()
        .collect();
    assert_eq!(sorted(sink.delivered()), expected);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        harness.queue_metric("sentinel_queue_corrupt_records_total"),
        2.0,
        "counted once"
    );
    assert_eq!(harness.counts(Signal::Logs).queue_size, 0);
    harness.drain_within(WAIT).await;

    let report: QueueReport = inspect(&dir).unwrap();
    // rec-003's gap is passed; the torn rec-009's sequence is simply never used.
    assert_eq!(
        report.confirmed_through,
        Some(9),
        "the cursor passes the lost record"
    );
    assert!(report.segments.is_empty(), "{report}");
}

#[tokio::test]
async fn a_full_disk_budget_refuses_and_never_acknowledges_what_it_did_not_write() {
    let root = tempfile::tempdir().unwrap();
    let dir = queue_dir(root.path());
    let max_size = 16 << 10;
    let sink = TestSink::gated();
    let harness = start(
        root.path(),
        &sink,
        disk_settings(&dir, max_size, ALWAYS),
        fast_retry(),
    );
    let body = "y".repeat(300);
    let (mut accepted, mut refused) = (0u64, 0u64);
    for _ in 0..40 {
        if harness.send_acked(logs(&body, 3)).await {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        accepted >= 10 && refused >= 10,
        "accepted {accepted}, refused {refused}"
    );
    let used: u64 = list_segments(&dir)
        .unwrap()
        .iter()
        .map(|(_, p)| fs::metadata(p).unwrap().len())
        .sum();
    assert!(used <= max_size, "{used} bytes on disk");
    let counts = harness.counts(Signal::Logs);
    assert_eq!(
        (counts.received, counts.refused),
        (accepted * 3, refused * 3)
    );

    sink.open_gate();
    wait_until("everything accepted is delivered", WAIT, || {
        sink.delivered().len() as u64 == accepted
    })
    .await;
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn drop_oldest_deletes_the_oldest_segment_and_counts_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = queue_dir(root.path());
    let mut settings = disk_settings(&dir, 16 << 10, ALWAYS);
    settings.when_full = WhenFull::DropOldest;
    let sink = TestSink::gated();
    let harness = start(root.path(), &sink, settings, fast_retry());
    let body = "z".repeat(1000);
    for i in 0..40 {
        assert!(
            harness.send_acked(logs(&format!("{i:03}{body}"), 1)).await,
            "request {i}"
        );
    }
    let counts = harness.counts(Signal::Logs);
    assert_eq!(counts.received, 40);
    assert!(counts.dropped >= 10, "{counts:?}");
    sink.open_gate();
    wait_until("every record is settled", WAIT, || {
        let c = harness.counts(Signal::Logs);
        c.queue_size == 0 && c.sent + c.dropped >= 40
    })
    .await;
    let counts = harness.counts(Signal::Logs);
    assert_eq!(counts.sent + counts.dropped, 40, "{counts:?}");
    let delivered = sink.delivered();
    assert!(
        delivered.iter().any(|b| b.starts_with("039")),
        "the newest survives"
    );
    harness.drain_within(WAIT).await;
}

async fn resolves_within(
    waiter: &mut std::pin::Pin<Box<impl std::future::Future>>,
    within: Duration,
) -> bool {
    tokio::time::timeout(within, waiter.as_mut()).await.is_ok()
}

#[tokio::test]
async fn with_an_fsync_interval_the_ack_waits_for_the_covering_fsync() {
    let root = tempfile::tempdir().unwrap();
    let interval = Duration::from_millis(400);
    let settings = disk_settings(
        &queue_dir(root.path()),
        1 << 20,
        FsyncPolicy::Interval(interval),
    );
    let sink = TestSink::gated();
    let harness = start(root.path(), &sink, settings, fast_retry());
    let fsyncs = || harness.queue_metric("sentinel_queue_fsync_duration_seconds_count");
    // Start-up may fsync the new segment; only count what follows.
    let before = fsyncs();
    let started = Instant::now();
    let (result, waiter) = harness.send(logs("group-commit", 1));
    result.unwrap();
    let mut waiter = Box::pin(waiter.wait());
    assert!(
        !resolves_within(&mut waiter, Duration::from_millis(200)).await,
        "acked before the fsync"
    );
    assert_eq!(fsyncs(), before, "no fsync yet");
    assert!(resolves_within(&mut waiter, WAIT).await);
    let took = started.elapsed();
    assert!(fsyncs() > before, "the ack came after an fsync");
    assert!(
        took >= interval - Duration::from_millis(20),
        "acked after {took:?}"
    );
    sink.open_gate();
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn fsync_always_syncs_before_acking_and_never_does_not_sync() {
    for (policy, expect_sync) in [(FsyncPolicy::Always, true), (FsyncPolicy::Never, false)] {
        let root = tempfile::tempdir().unwrap();
        let sink = TestSink::accepting();
        let harness = start(
            root.path(),
            &sink,
            disk_settings(&queue_dir(root.path()), 1 << 20, policy),
            fast_retry(),
        );
        let before = harness.queue_metric("sentinel_queue_fsync_duration_seconds_count");
        assert!(harness.send_acked(logs("p", 1)).await);
        let after = harness.queue_metric("sentinel_queue_fsync_duration_seconds_count");
        assert_eq!(after > before, expect_sync, "{policy:?}");
        harness.drain_within(WAIT).await;
    }
}

#[tokio::test]
async fn draining_a_disk_queue_with_the_sink_down_keeps_the_data_for_the_next_start() {
    let root = tempfile::tempdir().unwrap();
    let settings = disk_settings(&queue_dir(root.path()), 1 << 20, ALWAYS);
    let sink = TestSink::failing(ExportError::retryable("down"));
    let retry = RetrySettings {
        initial_interval: Duration::from_secs(30),
        ..fast_retry()
    };
    let harness = start(root.path(), &sink, settings.clone(), retry);
    let sent = names("kept-", 5);
    for body in &sent {
        assert!(harness.send_acked(logs(body, 1)).await);
    }
    wait_until("a delivery was tried", WAIT, || sink.attempts() >= 1).await;
    let started = Instant::now();
    harness.drain_within(Duration::from_secs(20)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "backoff interrupted, no wait for the deadline"
    );
    assert_eq!(sink.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);

    let sink = TestSink::accepting();
    let harness = start(root.path(), &sink, settings, fast_retry());
    wait_until("redelivered", WAIT, || sink.delivered().len() >= 5).await;
    assert_eq!(sorted(sink.delivered()), sent);
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn requests_accepted_just_before_drain_are_written_and_delivered() {
    let root = tempfile::tempdir().unwrap();
    let settings = disk_settings(
        &queue_dir(root.path()),
        4 << 20,
        FsyncPolicy::Interval(Duration::from_millis(50)),
    );
    let sink = TestSink::accepting();
    let harness = start(root.path(), &sink, settings, fast_retry());
    let waiters: Vec<_> = names("late-", 50)
        .iter()
        .map(|b| harness.send(logs(b, 1)))
        .map(|(result, waiter)| {
            result.unwrap();
            waiter
        })
        .collect();
    let consumer = harness.consumer.clone();
    harness.drain_within(WAIT).await;
    for waiter in waiters {
        assert!(waiter.wait().await.is_ok());
    }
    assert_eq!(sink.delivered().len(), 50);
    let refusal = consumer
        .consume(sentinel_pipeline::Message::unacked(logs("after", 1)))
        .unwrap_err();
    assert!(refusal.message.contains("shutting down"));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_write_error_refuses_and_counts_then_the_queue_recovers() {
    let root = tempfile::tempdir().unwrap();
    let dir = queue_dir(root.path());
    super::FAIL_FIRST_SEGMENT_WRITES.with(|fail| fail.set(true));
    let sink = TestSink::accepting();
    let harness = start(
        root.path(),
        &sink,
        disk_settings(&dir, 1 << 20, ALWAYS),
        fast_retry(),
    );
    super::FAIL_FIRST_SEGMENT_WRITES.with(|fail| fail.set(false));
    let (result, waiter) = harness.send(logs("lost-write", 4));
    result.expect("consume itself does not block on the disk");
    let refusal = waiter.wait().await.expect_err("not acknowledged");
    assert!(
        refusal.message.contains("cannot write"),
        "{}",
        refusal.message
    );
    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.failed, counts.received), (4, 0));

    assert!(
        harness.send_acked(logs("next", 1)).await,
        "a new segment takes writes"
    );
    wait_until("delivered", WAIT, || !sink.delivered().is_empty()).await;
    assert_eq!(sink.delivered(), ["next"]);
    harness.drain_within(WAIT).await;
}
