//! Each policy type, and how verdicts combine.

use std::time::Duration;

use sentinel_pipeline::otlp::common::v1::any_value::Value;
use tokio::time::Instant;

use super::super::trace::{Origin, PendingTrace};
use super::{config, sampler, span, trace_id, with_attribute, with_error};
use crate::probabilistic_sampler::threshold::{Randomness, Threshold};

fn pending(spans: Vec<sentinel_pipeline::otlp::trace::v1::Span>) -> PendingTrace {
    let origin = std::sync::Arc::new(Origin::default());
    let mut trace = PendingTrace::new(0);
    for s in spans {
        trace.add(&origin, &s);
    }
    trace
}

fn decides(policies: &str, spans: Vec<sentinel_pipeline::otlp::trace::v1::Span>) -> bool {
    sampler(&format!("policies: {policies}")).evaluate(&pending(spans), Instant::now())
}

#[test]
fn latency_uses_the_earliest_start_and_latest_end() {
    let policy = "[{name: slow, type: latency, latency: {threshold_ms: 500}}]";
    // Two short spans 600 ms apart make a 600 ms trace.
    assert!(decides(
        policy,
        vec![span(1, 0, 0, 10), span(1, 1, 590, 600)]
    ));
    assert!(!decides(policy, vec![span(1, 0, 0, 499)]));
    let bounded =
        "[{name: band, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}]";
    assert!(decides(bounded, vec![span(1, 0, 0, 150)]));
    assert!(!decides(bounded, vec![span(1, 0, 0, 250)]));
}

#[test]
fn status_code_matches_any_span() {
    let policy = "[{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]";
    assert!(decides(
        policy,
        vec![span(1, 0, 0, 1), with_error(span(1, 1, 0, 1))]
    ));
    assert!(!decides(policy, vec![span(1, 0, 0, 1)]));
    let unset = "[{name: u, type: status_code, status_code: {status_codes: [UNSET]}}]";
    assert!(decides(unset, vec![span(1, 0, 0, 1)]));
}

#[test]
fn attribute_policies_match_values_ranges_and_patterns() {
    let s = |v: &str| Value::StringValue(v.into());
    let exact =
        "[{name: a, type: string_attribute, string_attribute: {key: route, values: [/pay]}}]";
    assert!(decides(
        exact,
        vec![with_attribute(span(1, 0, 0, 1), "route", s("/pay"))]
    ));
    assert!(!decides(
        exact,
        vec![with_attribute(span(1, 0, 0, 1), "route", s("/pays"))]
    ));
    let regex = "[{name: a, type: string_attribute, string_attribute: {key: route, values: ['^/api/v[0-9]+/'], enabled_regex_matching: true}}]";
    assert!(decides(
        regex,
        vec![with_attribute(span(1, 0, 0, 1), "route", s("/api/v2/x"))]
    ));
    assert!(!decides(
        regex,
        vec![with_attribute(span(1, 0, 0, 1), "route", s("/health"))]
    ));
    let numeric = "[{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599}}]";
    assert!(decides(
        numeric,
        vec![with_attribute(
            span(1, 0, 0, 1),
            "code",
            Value::IntValue(503)
        )]
    ));
    assert!(decides(
        numeric,
        vec![with_attribute(
            span(1, 0, 0, 1),
            "code",
            Value::DoubleValue(500.0)
        )]
    ));
    assert!(!decides(
        numeric,
        vec![with_attribute(
            span(1, 0, 0, 1),
            "code",
            Value::IntValue(200)
        )]
    ));
    let boolean =
        "[{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}]";
    assert!(decides(
        boolean,
        vec![with_attribute(
            span(1, 0, 0, 1),
            "debug",
            Value::BoolValue(true)
        )]
    ));
    assert!(!decides(
        boolean,
        vec![with_attribute(
            span(1, 0, 0, 1),
            "debug",
            Value::BoolValue(false)
        )]
    ));
}

#[test]
fn attribute_policies_also_look_at_the_resource() {
    use sentinel_pipeline::otlp::resource::v1::Resource;
    let origin = std::sync::Arc::new(Origin {
        resource: Some(Resource {
            attributes: vec![crate::test_data::kv("service.name", "checkout")],
            ..Default::default()
        }),
        ..Origin::default()
    });
    let mut trace = PendingTrace::new(0);
    trace.add(&origin, &span(1, 0, 0, 1));
    let mut s = sampler("policies: [{name: a, type: string_attribute, string_attribute: {key: service.name, values: [checkout]}}]");
    assert!(s.evaluate(&trace, Instant::now()));
}

#[test]
fn span_count_and_trace_state() {
    let count = "[{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}]";
    assert!(!decides(count, vec![span(1, 0, 0, 1)]));
    assert!(decides(count, vec![span(1, 0, 0, 1), span(1, 1, 0, 1)]));
    assert!(!decides(count, (0..4).map(|i| span(1, i, 0, 1)).collect()));
    let state = "[{name: s, type: trace_state, trace_state: {key: vendor, values: [gold]}}]";
    let mut gold = span(1, 0, 0, 1);
    gold.trace_state = "ot=th:8,vendor=gold".into();
    assert!(decides(state, vec![gold]));
    assert!(!decides(state, vec![span(1, 0, 0, 1)]));
}

#[test]
fn the_probabilistic_policy_keeps_what_probabilistic_sampler_keeps() {
    let mut sampler = sampler(
        "policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}]",
    );
    let threshold = Threshold::from_probability(0.25, 14);
    let mut kept = 0;
    for n in 0..4000u64 {
        // Spread the randomness over the whole 56-bit space.
        let trace = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let id = trace_id(trace);
        let expected = threshold.keeps(Randomness::from_trace_id(&id).unwrap());
        let decision = sampler.evaluate(&pending(vec![span(trace, 0, 0, 1)]), Instant::now());
        assert_eq!(decision, expected, "trace {trace:x}");
        kept += usize::from(decision);
    }
    assert!((800..1200).contains(&kept), "{kept} of 4000 at 25%");
}

#[test]
fn rate_limiting_holds_per_second() {
    let mut sampler = sampler(
        "policies: [{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 200}}]",
    );
    let start = Instant::now();
    let ten_spans = |t: u64| pending((0..10).map(|i| span(t, i, 0, 1)).collect());
    let kept = (0..100)
        .filter(|t| sampler.evaluate(&ten_spans(*t), start))
        .count();
    assert_eq!(kept, 20, "200 spans per second in traces of 10");
    let next_second = start + Duration::from_secs(1);
    let kept = (0..100)
        .filter(|t| sampler.evaluate(&ten_spans(*t), next_second))
        .count();
    assert_eq!(kept, 20);
}

#[test]
fn drop_vetoes_and_and_needs_all() {
    let s = |v: &str| Value::StringValue(v.into());
    let health = |t| with_attribute(span(t, 0, 0, 1), "route", s("/health"));
    let policies = "[{name: all, type: always_sample},
        {name: no-health, type: drop, drop: {drop_sub_policy: [
            {name: h, type: string_attribute, string_attribute: {key: route, values: [/health]}}]}}]";
    assert!(!decides(policies, vec![health(1)]));
    assert!(decides(policies, vec![span(1, 0, 0, 1)]));
    let and = "[{name: slow-errors, type: and, and: {and_sub_policy: [
        {name: slow, type: latency, latency: {threshold_ms: 100}},
        {name: e, type: status_code, status_code: {status_codes: [ERROR]}}]}}]";
    assert!(decides(and, vec![with_error(span(1, 0, 0, 200))]));
    assert!(!decides(and, vec![with_error(span(1, 0, 0, 50))]));
    assert!(!decides(and, vec![span(1, 0, 0, 200)]));
}

#[test]
fn inverted_matches_combine_as_in_the_collector() {
    let s = |v: &str| Value::StringValue(v.into());
    let inverted = "[{name: not-internal, type: string_attribute, string_attribute: {key: tier, values: [internal], invert_match: true}}";
    // No match: inverted "sample".
    assert!(decides(&format!("{inverted}]"), vec![span(1, 0, 0, 1)]));
    // A match vetoes even always_sample.
    let internal = with_attribute(span(1, 0, 0, 1), "tier", s("internal"));
    assert!(!decides(
        &format!("{inverted}, {{name: all, type: always_sample}}]"),
        vec![internal]
    ));
    // An inverted "sample" loses to a plain "not sampled".
    let with_errors_only = format!(
        "{inverted}, {{name: e, type: status_code, status_code: {{status_codes: [ERROR]}}}}]"
    );
    assert!(!decides(&with_errors_only, vec![span(1, 0, 0, 1)]));
}

#[test]
fn composite_shares_the_rate_in_policy_order() {
    let s = |v: &str| Value::StringValue(v.into());
    let mut sampler = sampler(
        "policies: [{name: c, type: composite, composite: {
            max_total_spans_per_second: 100,
            policy_order: [vip, rest],
            composite_sub_policy: [
              {name: vip, type: string_attribute, string_attribute: {key: tier, values: [vip]}},
              {name: rest, type: always_sample}],
            rate_allocation: [{policy: vip, percent: 30}]}}]",
    );
    let now = Instant::now();
    let vip = |t| pending(vec![with_attribute(span(t, 0, 0, 1), "tier", s("vip"))]);
    let plain = |t| pending(vec![span(t, 0, 0, 1)]);
    // 50 vip traces: 30 on vip's share, then 20 more through `rest`'s 70.
    let vip_kept = (0..50).filter(|t| sampler.evaluate(&vip(*t), now)).count();
    assert_eq!(vip_kept, 50);
    let plain_kept = (0..100)
        .filter(|t| sampler.evaluate(&plain(*t), now))
        .count();
    assert_eq!(plain_kept, 50, "rest had 70, vip overflow took 20");
}

#[test]
fn sample_on_first_match_stops_at_the_first_sample_but_drop_still_vetoes() {
    let s = |v: &str| Value::StringValue(v.into());
    let mut sampler = sampler(
        "sample_on_first_match: true
policies:
  - {name: all, type: always_sample}
  - {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 1}}
  - {name: d, type: drop, drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: route, values: [/health]}}]}}",
    );
    let now = Instant::now();
    // The rate limit is never reached: evaluation stops at always_sample.
    for t in 0..10 {
        assert!(sampler.evaluate(&pending(vec![span(t, 0, 0, 1)]), now));
    }
    let health = with_attribute(span(99, 0, 0, 1), "route", s("/health"));
    assert!(!sampler.evaluate(&pending(vec![health]), now));
}

#[test]
fn bad_policy_configs_are_refused_with_their_key() {
    let errors = |yaml: &str| {
        let node = sentinel_pipeline::testing::snippet(yaml);
        sentinel_pipeline::config::decode_valid::<super::TailSamplingConfig>(&node)
            .expect_err(yaml)
            .into_iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases = [
        ("policies: []", "at least one policy"),
        ("policies: [{name: l, type: latency}]", "needs its `latency` settings"),
        (
            "policies: [{name: l, type: latency, status_code: {status_codes: [ERROR]}}]",
            "`status_code` settings on a policy of type `latency`",
        ),
        (
            "policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 5, hash_salt: x}}]",
            "hash_salt",
        ),
        ("policies: [{name: x, type: always_sampel}]", "always_sample"),
        (
            "policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]",
            "names two policies",
        ),
        (
            "policies: [{name: s, type: string_attribute, string_attribute: {key: k, values: ['(('], enabled_regex_matching: true}}]",
            "not a valid regular expression",
        ),
        (
            "max_memory_mib: 1\nmaximum_trace_size_bytes: 2000000\npolicies: [{name: a, type: always_sample}]",
            "maximum_trace_size_bytes",
        ),
        (
            "policies: [{name: c, type: composite, composite: {max_total_spans_per_second: 10, policy_order: [nope], composite_sub_policy: [{name: a, type: always_sample}]}}]",
            "not a composite_sub_policy name",
        ),
    ];
    for (yaml, expected) in cases {
        let text = errors(yaml);
        assert!(text.contains(expected), "{yaml}\n→ {text}");
    }
    // The defaults are the documented ones.
    let defaults = config("policies: [{name: a, type: always_sample}]");
    assert_eq!(defaults.decision_wait, Duration::from_secs(30));
    assert_eq!(defaults.num_traces, 50_000);
    assert_eq!(defaults.decision_cache.sampled_cache_size, 100_000);
    assert_eq!(defaults.decision_cache.non_sampled_cache_size, 100_000);
}
