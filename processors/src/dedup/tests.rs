use std::time::Duration;

use sentinel_pipeline::config::{check, ComponentConfig};
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::LogRecord;
use sentinel_pipeline::otlp::metrics::v1::{metric::Data, number_data_point};
use sentinel_pipeline::testing::{sample, snippet};
use sentinel_pipeline::{
    ack_pair, Acks, BuildContext, Message, Payload, Processor, ProcessorFactory, Refusal,
    SelfMetrics, Signal,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh64::xxh64;

use super::seen::{measure_false_positives, Measured, SeenSet};
use super::{DedupConfig, DedupFactory, FIRST_OBSERVED, LAST_OBSERVED};

fn build(yaml: &str, signal: Signal) -> Box<dyn Processor> {
    let ctx = BuildContext {
        id: "dedup".to_string(),
        metrics: SelfMetrics::new(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    DedupFactory
        .build(&snippet(yaml), signal, ctx)
        .expect("builds")
        .stage
}

fn run(processor: &mut dyn Processor, payload: Payload) -> Vec<Message> {
    let mut out = Vec::new();
    processor.process(Message::unacked(payload), &mut out);
    out
}

fn items(messages: &[Message]) -> usize {
    messages.iter().map(|m| m.payload.item_count()).sum()
}

fn attribute<'a>(record: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn records(messages: &[Message]) -> Vec<LogRecord> {
    messages
        .iter()
        .flat_map(|m| match &m.payload {
            Payload::Logs(req) => req.resource_logs.clone(),
            other => panic!("not logs: {other:?}"),
        })
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .collect()
}

fn one_log(body: &str, request_id: &str) -> Payload {
    let Payload::Logs(mut req) = sample(Signal::Logs, 1, 0) else {
        unreachable!()
    };
    let record = &mut req.resource_logs[0].scope_logs[0].log_records[0];
    record.body = Some(AnyValue {
        value: Some(any_value::Value::StringValue(body.to_string())),
    });
    record.attributes.push(KeyValue {
        key: "request.id".to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(request_id.to_string())),
        }),
        ..Default::default()
    });
    Payload::Logs(req)
}

#[tokio::test]
async fn ten_identical_log_records_become_one_with_log_count_10_acknowledged_on_emission() {
    let mut dedup = build("interval: 1h", Signal::Logs);
    let mut waiters = Vec::new();
    let mut out = Vec::new();
    for _ in 0..10 {
        let (token, waiter) = ack_pair();
        dedup.process(
            Message::new(one_log("disk full", "r1"), Acks::one(token)),
            &mut out,
        );
        waiters.push(Box::pin(waiter.wait()));
    }
    assert!(out.is_empty(), "held until the interval ends");
    assert!(dedup.deadline().is_some());
    for waiter in &mut waiters {
        let early = tokio::time::timeout(Duration::from_millis(5), waiter).await;
        assert!(
            early.is_err(),
            "no client is answered before its record is handed on"
        );
    }
    dedup.on_deadline(Instant::now(), &mut out);
    assert_eq!(dedup.deadline(), None);
    let emitted = records(&out);
    assert_eq!(emitted.len(), 1);
    let record = &emitted[0];
    assert_eq!(
        attribute(record, "log_count"),
        Some(&any_value::Value::IntValue(10))
    );
    for key in [FIRST_OBSERVED, LAST_OBSERVED] {
        let Some(any_value::Value::StringValue(text)) = attribute(record, key) else {
            panic!("{key} missing: {record:?}");
        };
        humantime::parse_rfc3339(text).expect("an RFC 3339 timestamp");
    }
    drop(out);
    for waiter in waiters {
        assert_eq!(waiter.await, Ok(()));
    }
}

#[test]
fn excluded_fields_are_left_out_of_the_identity_and_the_emitted_record() {
    let mut dedup = build(
        "exclude_fields: [attributes.request.id]\nlog_count_attribute: n",
        Signal::Logs,
    );
    for (body, id) in [("a", "1"), ("a", "2"), ("b", "3")] {
        assert!(run(dedup.as_mut(), one_log(body, id)).is_empty());
    }
    let mut out = Vec::new();
    dedup.flush(&mut out);
    let emitted = records(&out);
    assert_eq!(emitted.len(), 2, "a twice, b once");
    assert_eq!(
        attribute(&emitted[0], "n"),
        Some(&any_value::Value::IntValue(2))
    );
    assert_eq!(
        attribute(&emitted[1], "n"),
        Some(&any_value::Value::IntValue(1))
    );
    assert!(emitted.iter().all(|r| attribute(r, "request.id").is_none()));
}

#[test]
fn too_many_distinct_pending_records_are_emitted_early() {
    let mut dedup = build("max_pending_logs: 2\ninterval: 1h", Signal::Logs);
    assert!(run(dedup.as_mut(), one_log("a", "1")).is_empty());
    assert!(run(dedup.as_mut(), one_log("b", "1")).is_empty());
    let early = run(dedup.as_mut(), one_log("c", "1"));
    assert_eq!(items(&early), 2, "a and b go early to make room for c");
    let mut out = Vec::new();
    dedup.flush(&mut out);
    assert_eq!(items(&out), 1);
}

#[test]
fn duplicate_spans_within_and_across_requests_are_dropped() {
    let mut dedup = build("", Signal::Traces);
    let mut twice = sample(Signal::Traces, 5, 0);
    twice.append(sample(Signal::Traces, 5, 0)).unwrap();
    assert_eq!(items(&run(dedup.as_mut(), twice)), 5);
    assert!(run(dedup.as_mut(), sample(Signal::Traces, 5, 0)).is_empty());
    assert_eq!(items(&run(dedup.as_mut(), sample(Signal::Traces, 5, 1))), 5);
}

#[test]
fn resent_metric_points_are_dropped_and_new_values_kept() {
    let mut dedup = build("", Signal::Metrics);
    assert_eq!(
        items(&run(dedup.as_mut(), sample(Signal::Metrics, 10, 0))),
        10
    );
    // An exporter retry re-sends the same request.
    assert!(run(dedup.as_mut(), sample(Signal::Metrics, 10, 0)).is_empty());
    // The same series with a new value is a new point.
    let Payload::Metrics(mut req) = sample(Signal::Metrics, 10, 0) else {
        unreachable!()
    };
    let metric = &mut req.resource_metrics[0].scope_metrics[0].metrics[3];
    let Some(Data::Gauge(gauge)) = metric.data.as_mut() else {
        unreachable!()
    };
    gauge.data_points[0].value = Some(number_data_point::Value::AsDouble(-1.0));
    let out = run(dedup.as_mut(), Payload::Metrics(req));
    assert_eq!(items(&out), 1, "only the changed point passes");
}

#[test]
fn items_refused_downstream_are_not_remembered_so_the_retry_passes() {
    let mut dedup = build("", Signal::Traces);
    let out = run(dedup.as_mut(), sample(Signal::Traces, 10, 0));
    out[0]
        .acks
        .refuse(&Refusal::capacity("exporter queue full"));
    drop(out);
    let retry = run(dedup.as_mut(), sample(Signal::Traces, 10, 0));
    assert_eq!(items(&retry), 10, "the client's retry is delivered");
    drop(retry);
    assert!(run(dedup.as_mut(), sample(Signal::Traces, 10, 0)).is_empty());
}

#[test]
fn a_copy_arriving_while_the_first_is_in_flight_is_dropped() {
    let mut dedup = build("", Signal::Metrics);
    let first = run(dedup.as_mut(), sample(Signal::Metrics, 10, 0));
    assert_eq!(items(&first), 10);
    assert!(run(dedup.as_mut(), sample(Signal::Metrics, 10, 0)).is_empty());
    drop(first);
    assert!(run(dedup.as_mut(), sample(Signal::Metrics, 10, 0)).is_empty());
}

#[test]
fn identities_are_forgotten_after_two_windows() {
    let mut seen = SeenSet::new(1 << 20, 1e-6, Duration::from_secs(60));
    let start = Instant::now();
    assert!(!seen.check_and_insert(42));
    seen.rotate_if_due(start + Duration::from_secs(61));
    assert!(seen.check_and_insert(42), "remembered for the next window");
    seen.rotate_if_due(start + Duration::from_secs(122));
    seen.rotate_if_due(start + Duration::from_secs(183));
    assert!(
        !seen.check_and_insert(42),
        "forgotten two windows after last seen"
    );
}

#[test]
fn a_full_generation_rotates_early_and_memory_stays_at_the_budget() {
    let budget = 64 * 1024;
    let mut seen = SeenSet::new(budget, 1e-6, Duration::from_secs(3600));
    let capacity = seen.sizing().capacity;
    for i in 0..=capacity {
        seen.check_and_insert(xxh64(&i.to_le_bytes(), 7));
    }
    assert_eq!(seen.early_rotations, 1);
    assert_eq!(
        seen.memory_bytes() as u64,
        budget,
        "the filters are the budget, exactly"
    );
}

#[test]
fn false_positive_rate_at_1m_distinct_keys_is_within_the_configured_bound() {
    // A measurable rate first: 1e-3 over a million keys is about a thousand events.
    let Measured {
        while_filling: filling,
        when_full: full,
        bytes_per_key: per_key,
        ..
    } = measure_false_positives(1_000_000, 1e-3);
    eprintln!("1M keys at 1e-3: {filling:.2e} while filling, {full:.2e} when full, {per_key:.2} bytes/key");
    assert!(full <= 1e-3 * 1.1, "when full: {full}");
    assert!(filling <= 1e-3, "while filling: {filling}");
    // The default, 1e-6: about one event expected at full fill; five is far in the tail.
    let Measured {
        while_filling: filling,
        when_full: full,
        bytes_per_key: per_key,
        ..
    } = measure_false_positives(1_000_000, 1e-6);
    eprintln!("1M keys at 1e-6: {filling:.2e} while filling, {full:.2e} when full, {per_key:.2} bytes/key");
    assert!(full * 1e6 <= 5.0, "when full: {full}");
    assert!(filling * 1e6 <= 5.0, "while filling: {filling}");
}

#[test]
#[ignore = "10M keys take about a minute in a debug build; run with --release -- --ignored"]
fn false_positive_rate_at_10m_distinct_keys_is_within_the_configured_bound() {
    let Measured {
        while_filling: filling,
        when_full: full,
        bytes_per_key: per_key,
        ..
    } = measure_false_positives(10_000_000, 1e-6);
    eprintln!("10M keys at 1e-6: {filling:.2e} while filling, {full:.2e} when full, {per_key:.2} bytes/key");
    assert!(full <= 2e-6, "when full: {full}");
    assert!(filling <= 1e-6, "while filling: {filling}");
}

#[test]
fn config_defaults_are_the_collectors_and_bad_fields_are_refused() {
    let config = DedupConfig::default();
    assert_eq!(config.interval, Duration::from_secs(10));
    assert_eq!(config.log_count_attribute, "log_count");
    assert!(config.validate().is_ok());
    assert!(check::<DedupConfig>(&snippet("exclude_fields: [severity]")).is_err());
    assert!(check::<DedupConfig>(&snippet("false_positive_rate: 0")).is_err());
    assert!(
        check::<DedupConfig>(&snippet("windw: 1m")).is_err(),
        "unknown keys"
    );
}
