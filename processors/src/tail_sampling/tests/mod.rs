use std::time::Duration;

use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use tokio::time::Instant;

use super::sampler::{EarlyReason, TailSampler};
use super::Release;
use super::TailSamplingConfig;

mod policies;
mod processor;

pub fn config(yaml: &str) -> TailSamplingConfig {
    let node = sentinel_pipeline::testing::snippet(yaml);
    sentinel_pipeline::config::decode_valid(&node).expect("a valid config")
}

pub fn sampler(yaml: &str) -> TailSampler {
    TailSampler::new(&config(yaml))
}

pub fn trace_id(n: u64) -> Vec<u8> {
    let mut id = [0u8; 16];
    id[0] = 0x5e;
    id[8..].copy_from_slice(&n.to_be_bytes());
    id.to_vec()
}

/// A span of trace `trace`, lasting `start_ms` to `end_ms`.
pub fn span(trace: u64, index: u64, start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: trace_id(trace),
        span_id: (index + 1).to_be_bytes().to_vec(),
        name: format!("span-{index}"),
        start_time_unix_nano: start_ms * 1_000_000,
        end_time_unix_nano: end_ms * 1_000_000,
        ..Span::default()
    }
}

pub fn with_error(mut span: Span) -> Span {
    span.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "boom".into(),
    });
    span
}

pub fn with_attribute(mut span: Span, key: &str, value: any_value::Value) -> Span {
    span.attributes.push(KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    });
    span
}

pub fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The requests of some releases.
pub fn requests(releases: Vec<Release>) -> Vec<ExportTraceServiceRequest> {
    releases.into_iter().map(|r| r.request).collect()
}

/// (trace number, span id) of every span in `requests`, sorted.
pub fn spans_of(requests: &[ExportTraceServiceRequest]) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| {
            let trace = u64::from_be_bytes(s.trace_id[8..].try_into().unwrap());
            let id = u64::from_be_bytes(s.span_id.clone().try_into().unwrap());
            (trace, id - 1)
        })
        .collect();
    spans.sort();
    spans
}

fn early(sampler: &TailSampler, reason: EarlyReason) -> u64 {
    let index = EarlyReason::ALL.iter().position(|r| *r == reason).unwrap();
    sampler.tally.early[index]
}

const ERRORS: &str =
    "policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]";

#[test]
fn a_trace_with_an_error_span_is_kept_whole_and_the_others_dropped() {
    let mut sampler = sampler(&format!("decision_wait: 10s\n{ERRORS}"));
    let start = Instant::now();
    // Three requests, each with a span of traces 1 to 3; trace 2's error comes last.
    for (step, part) in [0u64, 1, 2].iter().enumerate() {
        let spans = (1..=3)
            .map(|t| {
                let s = span(t, *part, 0, 10);
                if t == 2 && step == 2 {
                    with_error(s)
                } else {
                    s
                }
            })
            .collect();
        let ingested = sampler.ingest(request(spans), start + Duration::from_secs(step as u64));
        assert!(ingested.passed.is_none() && ingested.decided.is_empty());
    }
    assert_eq!(sampler.pending_spans(), 9);
    assert!(
        sampler
            .decide_due(start + Duration::from_secs(9))
            .is_empty(),
        "not yet due"
    );
    let decided = requests(sampler.decide_due(start + Duration::from_secs(10)));
    assert_eq!(spans_of(&decided), vec![(2, 0), (2, 1), (2, 2)]);
    assert_eq!(sampler.tally.traces_sampled, 1);
    assert_eq!(sampler.tally.traces_not_sampled, 2);
    assert_eq!(sampler.tally.spans_sampled_out, 6);
    assert_eq!(sampler.pending_spans(), 0);
    assert_eq!(sampler.pending_bytes(), 0);
}

#[test]
fn late_spans_follow_the_cached_decision() {
    let mut sampler = sampler(&format!("decision_wait: 1s\n{ERRORS}"));
    let start = Instant::now();
    sampler.ingest(
        request(vec![with_error(span(1, 0, 0, 5)), span(2, 0, 0, 5)]),
        start,
    );
    let decided = requests(sampler.decide_due(start + Duration::from_secs(1)));
    assert_eq!(spans_of(&decided), vec![(1, 0)]);
    // Late spans, none of them errors: trace 1's go on at once, trace 2's are dropped.
    let later = start + Duration::from_secs(20);
    let ingested = sampler.ingest(request(vec![span(1, 1, 5, 9), span(2, 1, 5, 9)]), later);
    assert_eq!(spans_of(&[ingested.passed.unwrap()]), vec![(1, 1)]);
    assert_eq!(
        sampler.pending_spans(),
        0,
        "nothing is held for a decided trace"
    );
    assert_eq!(sampler.tally.late_spans_sampled, 1);
    assert_eq!(sampler.tally.late_spans_not_sampled, 1);
}

#[test]
fn without_the_caches_a_late_span_is_a_new_partial_trace() {
    let mut sampler = sampler(&format!(
        "decision_wait: 1s\ndecision_cache: {{sampled_cache_size: 0, non_sampled_cache_size: 0}}\n{ERRORS}"
    ));
    let start = Instant::now();
    sampler.ingest(request(vec![with_error(span(1, 0, 0, 5))]), start);
    requests(sampler.decide_due(start + Duration::from_secs(1)));
    let ingested = sampler.ingest(
        request(vec![span(1, 1, 5, 9)]),
        start + Duration::from_secs(2),
    );
    assert!(ingested.passed.is_none());
    assert_eq!(sampler.pending_spans(), 1);
    // Judged alone it has no error, so the trace arrives downstream incomplete.
    assert!(sampler
        .decide_due(start + Duration::from_secs(3))
        .is_empty());
}

#[test]
fn a_trace_past_the_size_cap_is_decided_at_once_and_its_later_spans_follow() {
    let mut sampler =
        sampler("maximum_trace_size_bytes: 4096\npolicies: [{name: all, type: always_sample}]");
    let now = Instant::now();
    let mut released = Vec::new();
    for index in 0..40 {
        let ingested = sampler.ingest(
            request(vec![span(1, index, 0, 1), span(2, index, 0, 1)]),
            now,
        );
        released.extend(requests(ingested.decided));
        released.extend(ingested.passed);
    }
    assert_eq!(
        early(&sampler, EarlyReason::TraceSize),
        2,
        "both traces hit the cap once"
    );
    let all: Vec<(u64, u64)> = (1..=2).flat_map(|t| (0..40).map(move |i| (t, i))).collect();
    assert_eq!(spans_of(&released), all, "every span went on, none is held");
    assert_eq!(sampler.pending_spans(), 0);
}

#[test]
fn past_the_budget_the_oldest_traces_are_decided_early_and_memory_stays_bounded() {
    let mut sampler = sampler(
        "max_memory_mib: 1\nmaximum_trace_size_bytes: 65536\npolicies: [{name: all, type: always_sample}]",
    );
    let now = Instant::now();
    let mut released = Vec::new();
    for trace in 0..20_000u64 {
        let ingested = sampler.ingest(request(vec![span(trace, 0, 0, 1)]), now);
        released.extend(requests(ingested.decided));
        assert!(sampler.pending_bytes() <= 1024 * 1024);
    }
    let decided_early = early(&sampler, EarlyReason::MemoryBudget);
    assert!(decided_early > 10_000, "{decided_early}");
    assert_eq!(spans_of(&released).len() as u64, decided_early);
    // The oldest went first: trace 0 was released, the newest is still pending.
    assert_eq!(spans_of(&released)[0], (0, 0));
    assert_eq!(
        sampler.pending_traces() as u64 + decided_early,
        20_000,
        "every trace is pending or decided, none lost"
    );
}

#[test]
fn past_num_traces_the_oldest_trace_is_decided_early() {
    let mut sampler = sampler("num_traces: 10\npolicies: [{name: all, type: always_sample}]");
    let now = Instant::now();
    for trace in 0..15u64 {
        sampler.ingest(request(vec![span(trace, 0, 0, 1)]), now);
    }
    assert_eq!(sampler.pending_traces(), 10);
    assert_eq!(early(&sampler, EarlyReason::NumTraces), 5);
    assert_eq!(sampler.tally.traces_sampled, 5);
}

#[test]
fn shutdown_decides_everything_pending() {
    let mut sampler = sampler(&format!("decision_wait: 1h\n{ERRORS}"));
    let now = Instant::now();
    sampler.ingest(
        request(vec![with_error(span(1, 0, 0, 5)), span(2, 0, 0, 5)]),
        now,
    );
    let decided = requests(sampler.decide_all(now));
    assert_eq!(spans_of(&decided), vec![(1, 0)]);
    assert_eq!(early(&sampler, EarlyReason::Shutdown), 2);
    assert_eq!(sampler.next_deadline(), None);
}

#[test]
fn released_spans_keep_their_resource_and_scope() {
    use sentinel_pipeline::otlp::common::v1::InstrumentationScope;
    use sentinel_pipeline::otlp::resource::v1::Resource;
    let mut sampler = sampler("decision_wait: 1s\npolicies: [{name: all, type: always_sample}]");
    let now = Instant::now();
    let mut req = request(vec![span(1, 0, 0, 1), span(2, 0, 0, 1), span(1, 1, 0, 1)]);
    req.resource_spans[0].resource = Some(Resource {
        attributes: vec![crate::test_data::kv("service.name", "checkout")],
        ..Default::default()
    });
    req.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
        name: "lib".into(),
        ..Default::default()
    });
    sampler.ingest(req.clone(), now);
    let decided = requests(sampler.decide_due(now + Duration::from_secs(1)));
    assert_eq!(decided.len(), 1);
    // Both traces came from one resource and scope, and leave under one.
    assert_eq!(decided[0].resource_spans.len(), 1);
    let out = &decided[0].resource_spans[0];
    assert_eq!(out.resource, req.resource_spans[0].resource);
    assert_eq!(
        out.scope_spans[0].scope,
        req.resource_spans[0].scope_spans[0].scope
    );
    assert_eq!(out.scope_spans[0].spans.len(), 3);
}
