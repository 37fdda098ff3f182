//! Memory queue, retries, dead letters and the self-metrics contract.

use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::sending::WhenFull;
use sentinel_pipeline::{ExportError, RefusalKind, RetrySettings, Signal};
use tokio::time::Instant;

use super::test_support::*;

const WAIT: Duration = Duration::from_secs(10);

/// Starts a memory queue (one consumer, `queue_size` 2) around a closed gate, and parks
/// one request in the consumer so the queue itself is empty.
async fn parked_memory_queue(
    dir: &std::path::Path,
    when_full: WhenFull,
) -> (Harness, Arc<TestSink>) {
    let sink = TestSink::gated();
    let harness = start(dir, &sink, memory_settings(2, when_full), fast_retry());
    assert!(harness.send_acked(logs("m0", 2)).await);
    wait_until("the consumer holds m0", WAIT, || sink.attempts() == 1).await;
    (harness, sink)
}

#[tokio::test]
async fn memory_queue_refuses_when_full_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (harness, sink) = parked_memory_queue(dir.path(), WhenFull::Refuse).await;
    assert!(harness.send_acked(logs("m1", 2)).await);
    assert!(harness.send_acked(logs("m2", 2)).await);
    let (result, waiter) = harness.send(logs("m3", 2));
    let refusal = result.expect_err("a full queue refuses");
    assert_eq!(refusal.kind, RefusalKind::Capacity);
    assert!(
        waiter.wait().await.is_err(),
        "the client is not acknowledged"
    );

    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.received, counts.refused, counts.dropped), (6, 2, 0));
    assert_eq!(
        counts.queue_size, 6,
        "items of two waiting requests plus the one in the consumer"
    );

    sink.open_gate();
    wait_until("m0..m2 are delivered", WAIT, || sink.delivered().len() == 3).await;
    assert_eq!(sink.delivered(), ["m0", "m1", "m2"]);
    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.sent, counts.queue_size), (6, 0));
    harness.drain_within(WAIT).await;
    assert_eq!(sink.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn memory_queue_drop_oldest_evicts_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (harness, sink) = parked_memory_queue(dir.path(), WhenFull::DropOldest).await;
    assert!(harness.send_acked(logs("m1", 2)).await);
    assert!(harness.send_acked(logs("m2", 2)).await);
    assert!(
        harness.send_acked(logs("m3", 3)).await,
        "drop_oldest accepts"
    );

    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.received, counts.dropped, counts.refused), (9, 2, 0));
    assert_eq!(
        counts.queue_size, 7,
        "items of m0 (in the consumer), m2 and m3"
    );

    sink.open_gate();
    wait_until("the survivors are delivered", WAIT, || {
        sink.delivered().len() == 3
    })
    .await;
    assert_eq!(
        sink.delivered(),
        ["m0", "m2", "m3"],
        "m1 was the oldest waiting"
    );
    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.sent, counts.queue_size), (7, 0));
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn memory_queue_is_also_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::gated();
    let mut settings = memory_settings(1000, WhenFull::Refuse);
    // The memory queue counts decoded bytes.
    let one = sentinel_pipeline::admission::decoded_size(&logs("x", 10)) as u64;
    settings.max_size = Some(one * 3);
    let harness = start(dir.path(), &sink, settings, fast_retry());
    assert!(harness.send_acked(logs("x", 10)).await);
    wait_until("the consumer holds one", WAIT, || sink.attempts() == 1).await;
    for _ in 0..3 {
        assert!(harness.send_acked(logs("x", 10)).await);
    }
    let (result, _) = harness.send(logs("x", 10));
    assert!(result.unwrap_err().message.contains("queue full"));
    assert_eq!(
        harness.queue_metric("sentinel_queue_bytes"),
        (one * 3) as f64
    );
    sink.open_gate();
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn receivers_are_refused_before_the_last_eighth_which_admitted_data_still_gets() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::gated();
    let mut settings = memory_settings(1000, WhenFull::Refuse);
    let one = sentinel_pipeline::admission::decoded_size(&logs("x", 10));
    settings.max_size = Some(one as u64 * 8);
    let harness = start(dir.path(), &sink, settings, fast_retry());
    assert!(harness.send_acked(logs("x", 10)).await);
    wait_until("the consumer holds one", WAIT, || sink.attempts() == 1).await;
    for _ in 0..6 {
        assert!(harness.send_acked(logs("x", 10)).await);
    }
    assert!(
        harness.consumer.has_room(one).is_ok(),
        "7 of 8 with this one"
    );
    assert!(harness.send_acked(logs("x", 10)).await);
    let refusal = harness.consumer.has_room(one).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Capacity);
    // What was admitted before still fits: the whole queue takes handed-over data.
    assert!(harness.send_acked(logs("x", 10)).await);
    let (result, _) = harness.send(logs("x", 10));
    assert!(result.unwrap_err().message.contains("queue full"));
    sink.open_gate();
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn retryable_failures_are_retried_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::accepting();
    for _ in 0..3 {
        sink.script
            .lock()
            .unwrap()
            .push_back(ExportError::retryable("503"));
    }
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(10, WhenFull::Refuse),
        fast_retry(),
    );
    assert!(harness.send_acked(logs("r", 4)).await);
    wait_until("delivered after retries", WAIT, || {
        !sink.delivered().is_empty()
    })
    .await;
    assert_eq!(sink.attempts(), 4);
    assert_eq!(sink.delivered(), ["r"]);
    assert_eq!(harness.queue_metric("sentinel_queue_retries_total"), 3.0);
    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.sent, counts.failed, counts.dropped), (4, 0, 0));
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn retry_after_from_the_sink_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::accepting();
    sink.script
        .lock()
        .unwrap()
        .push_back(ExportError::Retryable {
            message: "429".into(),
            retry_after: Some(Duration::from_millis(400)),
        });
    let retry = RetrySettings {
        initial_interval: Duration::from_millis(5),
        ..fast_retry()
    };
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(10, WhenFull::Refuse),
        retry,
    );
    assert!(harness.send_acked(logs("ra", 1)).await);
    wait_until("delivered", WAIT, || !sink.delivered().is_empty()).await;
    let times = sink.attempt_times.lock().unwrap().clone();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(gap >= Duration::from_millis(400), "retried after {gap:?}");
    harness.drain_within(WAIT).await;
}

fn dead_letter_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let path = dir.join("dead-letter").join("test_sink.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

#[tokio::test]
async fn permanent_errors_are_dead_lettered_and_later_data_still_flows() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::gated();
    *sink.reject.lock().unwrap() = Some("bad".into());
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(10, WhenFull::Refuse),
        fast_retry(),
    );
    assert!(harness.send_acked(logs("first", 1)).await);
    wait_until("the consumer holds the first", WAIT, || {
        sink.attempts() == 1
    })
    .await;
    // These three wait together and go out as one merged export, which the sink
    // rejects because of "bad"; the queue then sends them one by one.
    assert!(harness.send_acked(logs("good-1", 1)).await);
    assert!(harness.send_acked(logs("bad", 3)).await);
    assert!(harness.send_acked(logs("good-2", 1)).await);
    sink.open_gate();
    wait_until("the good ones are delivered", WAIT, || {
        sink.delivered().len() == 3
    })
    .await;
    wait_until("the bad one is dead-lettered", WAIT, || {
        dead_letter_lines(dir.path()).len() == 1
    })
    .await;
    assert_eq!(sink.delivered(), ["first", "good-1", "good-2"]);

    let line = &dead_letter_lines(dir.path())[0];
    assert_eq!(line["exporter"], ID);
    assert_eq!(line["signal"], "logs");
    assert!(line["reason"]
        .as_str()
        .unwrap()
        .contains("sink rejects bad"));
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    let body = &line["payload"]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"];
    assert_eq!(body["stringValue"], "bad", "payload in OTLP/JSON: {line}");

    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.sent, counts.failed, counts.queue_size), (3, 3, 0));
    assert_eq!(
        harness.queue_metric("sentinel_queue_dead_lettered_total"),
        3.0
    );
    // Merged attempt, then one each: the bad one is never retried.
    assert_eq!(sink.attempts(), 5);
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn retries_stop_at_max_elapsed_time_and_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::failing(ExportError::retryable("connection refused"));
    let retry = RetrySettings {
        max_elapsed_time: Duration::from_millis(150),
        ..fast_retry()
    };
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(10, WhenFull::Refuse),
        retry,
    );
    let started = Instant::now();
    assert!(harness.send_acked(logs("late", 2)).await);
    wait_until("counted as failed", WAIT, || {
        harness.counts(Signal::Logs).failed == 2
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let line = &dead_letter_lines(dir.path())[0];
    let reason = line["reason"].as_str().unwrap();
    assert!(
        reason.contains("gave up") && reason.contains("connection refused"),
        "{reason}"
    );
    assert!(sink.attempts() >= 2);
    let counts = harness.counts(Signal::Logs);
    assert_eq!((counts.failed, counts.sent), (2, 0));
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn disabled_retries_dead_letter_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::failing(ExportError::retryable("503"));
    let retry = RetrySettings {
        enabled: false,
        ..fast_retry()
    };
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(10, WhenFull::Refuse),
        retry,
    );
    assert!(harness.send_acked(logs("once", 1)).await);
    wait_until("dead-lettered", WAIT, || {
        !dead_letter_lines(dir.path()).is_empty()
    })
    .await;
    assert_eq!(sink.attempts(), 1);
    assert!(dead_letter_lines(dir.path())[0]["reason"]
        .as_str()
        .unwrap()
        .contains("retry_on_failure is disabled"));
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn drain_interrupts_backoff_at_the_deadline_and_counts_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::failing(ExportError::retryable("down"));
    let retry = RetrySettings {
        initial_interval: Duration::from_secs(60),
        max_interval: Duration::from_secs(60),
        ..fast_retry()
    };
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(10, WhenFull::Refuse),
        retry,
    );
    assert!(harness.send_acked(logs("stuck", 2)).await);
    wait_until("the first attempt failed", WAIT, || sink.attempts() == 1).await;
    assert!(harness.send_acked(logs("queued", 3)).await);
    let consumer = harness.consumer.clone();
    let metrics = harness.metrics.clone();
    let started = Instant::now();
    harness
        .handle
        .drain(Instant::now() + Duration::from_millis(300))
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(sink.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
    let counts = sentinel_pipeline::testing::component_counts(
        &metrics,
        sentinel_pipeline::Kind::Exporter,
        ID,
        Signal::Logs,
    );
    assert_eq!((counts.dropped, counts.sent, counts.queue_size), (5, 0, 0));

    let refused = consumer.consume(sentinel_pipeline::Message::unacked(logs("after", 1)));
    assert_eq!(refused.unwrap_err().kind, RefusalKind::Unavailable);
}

#[tokio::test]
async fn drain_delivers_what_is_queued_before_returning() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::gated();
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(100, WhenFull::Refuse),
        fast_retry(),
    );
    for i in 0..20 {
        assert!(harness.send_acked(logs(&format!("d{i}"), 1)).await);
    }
    sink.open_gate();
    let metrics = harness.metrics.clone();
    harness.drain_within(WAIT).await;
    assert_eq!(sink.delivered().len(), 20);
    let counts = sentinel_pipeline::testing::component_counts(
        &metrics,
        sentinel_pipeline::Kind::Exporter,
        ID,
        Signal::Logs,
    );
    assert_eq!((counts.received, counts.sent, counts.dropped), (20, 20, 0));
    // Small records were merged: fewer exports than requests.
    assert!(sink.attempts() < 20, "{} exports", sink.attempts());
}

#[tokio::test]
async fn reports_all_six_series_for_every_listed_signal_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::accepting();
    let harness = start(
        dir.path(),
        &sink,
        memory_settings(10, WhenFull::Refuse),
        fast_retry(),
    );
    assert_eq!(harness.counts(Signal::Traces), Default::default());
    assert_eq!(harness.counts(Signal::Logs), Default::default());
    let text = harness.metrics.encode();
    for series in [
        "sentinel_queue_bytes{",
        "sentinel_queue_oldest_record_age_seconds{",
        "sentinel_queue_retries_total{",
        "sentinel_queue_dead_lettered_total{",
        "sentinel_queue_corrupt_records_total{",
        "sentinel_queue_fsync_duration_seconds_count{",
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
    harness.drain_within(WAIT).await;
}

#[tokio::test]
async fn two_queues_share_one_registry_without_duplicate_families() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = sentinel_pipeline::SelfMetrics::new();
    let mut handles = Vec::new();
    for id in ["a", "b"] {
        let ctx = super::QueueContext {
            id: id.to_string(),
            metrics: metrics.clone(),
            data_dir: dir.path().to_path_buf(),
        };
        let built = sentinel_pipeline::BuiltExporter {
            exporter: TestSink::accepting(),
            queue: memory_settings(10, WhenFull::Refuse),
            retry: fast_retry(),
        };
        handles.push(super::start_queue(ctx, built, &[Signal::Logs]).unwrap().1);
    }
    let text = metrics.encode();
    assert_eq!(text.matches("# TYPE sentinel_queue_bytes gauge").count(), 1);
    assert!(text.contains("sentinel_queue_bytes{component_id=\"a\"}"));
    assert!(text.contains("sentinel_queue_bytes{component_id=\"b\"}"));
    for handle in handles {
        handle.drain(Instant::now() + WAIT).await;
    }
}

/// Panics on requests whose body is "boom", delivers the rest.
struct Panicky(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl sentinel_pipeline::Exporter for Panicky {
    async fn export(&self, payload: sentinel_pipeline::Payload) -> Result<(), ExportError> {
        let bodies = bodies(&payload);
        if bodies.iter().any(|b| b == "boom") {
            panic!("cannot handle boom");
        }
        self.0.lock().unwrap().extend(bodies);
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_exporter_dead_letters_the_request_and_keeps_consuming() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Panicky(Default::default()));
    let metrics = sentinel_pipeline::SelfMetrics::new();
    let ctx = super::QueueContext {
        id: ID.to_string(),
        metrics: metrics.clone(),
        data_dir: dir.path().to_path_buf(),
    };
    let built = sentinel_pipeline::BuiltExporter {
        exporter: sink.clone(),
        queue: memory_settings(10, WhenFull::Refuse),
        retry: fast_retry(),
    };
    let (consumer, handle) = super::start_queue(ctx, built, &[Signal::Logs]).unwrap();
    consumer
        .consume(sentinel_pipeline::Message::unacked(logs("boom", 1)))
        .unwrap();
    wait_until("dead-lettered", WAIT, || {
        !dead_letter_lines(dir.path()).is_empty()
    })
    .await;
    let reason = dead_letter_lines(dir.path())[0]["reason"].clone();
    assert!(
        reason
            .as_str()
            .unwrap()
            .contains("exporter panicked: cannot handle boom"),
        "{reason}"
    );
    consumer
        .consume(sentinel_pipeline::Message::unacked(logs("fine", 1)))
        .unwrap();
    wait_until("the next one is delivered", WAIT, || {
        !sink.0.lock().unwrap().is_empty()
    })
    .await;
    handle.drain(Instant::now() + WAIT).await;
}
