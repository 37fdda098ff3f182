use std::collections::BTreeSet;

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::threshold::{fnv1a_32, Randomness, Threshold, SPACE};
use super::{
    sample_logs, sample_traces, tracestate, AttributeSource, Outcome, ProbabilisticSamplerConfig,
    Sampler, SamplerMode, Tally,
};

const TRACES: usize = 20_000;

/// A fixed pseudo-random sequence (splitmix64), so failures reproduce.
struct Ids(u64);

impl Ids {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn trace_id(&mut self) -> Vec<u8> {
        let mut id = self.next_u64().to_be_bytes().to_vec();
        id.extend(self.next_u64().to_be_bytes());
        id
    }
}

fn trace_ids(seed: u64) -> Vec<Vec<u8>> {
    let mut ids = Ids(seed);
    (0..TRACES).map(|_| ids.trace_id()).collect()
}

fn config(percentage: f32, mode: SamplerMode) -> ProbabilisticSamplerConfig {
    ProbabilisticSamplerConfig {
        sampling_percentage: percentage,
        mode: Some(mode),
        ..Default::default()
    }
}

fn spans(ids: &[Vec<u8>]) -> ExportTraceServiceRequest {
    let spans = ids
        .iter()
        .map(|id| Span {
            trace_id: id.clone(),
            span_id: id[..8].to_vec(),
            ..Default::default()
        })
        .collect();
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

fn kept_spans(req: &ExportTraceServiceRequest) -> Vec<&Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

fn kept_ids(req: &ExportTraceServiceRequest) -> BTreeSet<Vec<u8>> {
    kept_spans(req).iter().map(|s| s.trace_id.clone()).collect()
}

/// Samples the spans and checks the kept count lies within 5 sigma of `probability`.
fn assert_binomial(kept: usize, probability: f64) {
    let n = TRACES as f64;
    let sigma = (n * probability * (1.0 - probability)).sqrt();
    let deviation = (kept as f64 - n * probability).abs();
    assert!(
        deviation <= 5.0 * sigma,
        "kept {kept} of {TRACES}, expected {} ± {}",
        n * probability,
        5.0 * sigma
    );
}

/// T = round((1 - p) * 2^56), rounded to 4 hex digits, worked out again here.
fn expected_threshold(probability: f64) -> u64 {
    let exact = ((1.0 - probability) * 2f64.powi(56)).round();
    let unit = 2f64.powi(40); // 10 of the 14 hex digits are dropped
    ((exact / unit).round() * unit) as u64
}

#[test]
fn thresholds_follow_the_otep_formula_and_encoding() {
    for (percentage, th) in [(1.0, "fd71"), (10.0, "e666"), (25.0, "c"), (50.0, "8")] {
        let threshold = Threshold::from_probability(percentage / 100.0, 4);
        assert_eq!(threshold.raw(), expected_threshold(percentage / 100.0));
        assert_eq!(threshold.encode().as_deref(), Some(th), "{percentage}%");
        assert_eq!(Threshold::decode(th), Ok(threshold));
    }
    assert_eq!(
        Threshold::from_probability(1.0, 4).encode().as_deref(),
        Some("0")
    );
    assert_eq!(Threshold::from_probability(0.0, 4).encode(), None);
    // More precision, more digits: 0.9 * 2^56 is e6666666666666.66.. in hex and
    // 0.99 * 2^56 is fd70a3d70a3d70.a3.., both rounded at the 14th digit.
    let precise = Threshold::from_probability(0.1, 14).encode();
    assert_eq!(precise.as_deref(), Some("e6666666666666"));
    let precise = Threshold::from_probability(0.01, 14).encode();
    assert_eq!(precise.as_deref(), Some("fd70a3d70a3d71"));
    assert_eq!(
        Threshold::from_probability(0.1, 1).encode().as_deref(),
        Some("e")
    );
}

#[test]
fn malformed_values_are_rejected() {
    for bad in ["", "E", "0123456789abcde", "x1"] {
        assert!(Threshold::decode(bad).is_err(), "th {bad:?}");
    }
    assert!(Randomness::decode("abc").is_err());
    assert_eq!(
        Randomness::decode("00000000000001").map(Randomness::raw),
        Ok(1)
    );
}

#[test]
fn randomness_is_the_low_56_bits_of_the_trace_id() {
    let id: Vec<u8> = (1..=16).collect();
    let randomness = Randomness::from_trace_id(&id).expect("valid id");
    assert_eq!(randomness.raw(), 0x000a_0b0c_0d0e_0f10);
    assert_eq!(Randomness::from_trace_id(&[0; 16]), None);
    assert_eq!(Randomness::from_trace_id(&[]), None);
}

#[test]
fn hash_seed_uses_32_bit_fnv_1a() {
    // Published FNV-1a test vectors.
    assert_eq!(fnv1a_32(&[], &[]), 0x811c_9dc5);
    assert_eq!(fnv1a_32(b"a", &[]), 0xe40c_292c);
    assert_eq!(fnv1a_32(b"foo", b"bar"), fnv1a_32(b"foobar", &[]));
    assert_eq!(fnv1a_32(b"foobar", &[]), 0xbf9c_f968);
}

#[test]
fn kept_fraction_lies_within_binomial_bounds() {
    let ids = trace_ids(1);
    for mode in [SamplerMode::Proportional, SamplerMode::HashSeed] {
        for percentage in [1.0, 10.0, 25.0, 50.0] {
            let sampler = Sampler::new(&config(percentage, mode));
            let mut req = spans(&ids);
            let tally = sample_traces(&sampler, &mut req);
            let kept = kept_spans(&req).len();
            assert_eq!(kept + tally.sampled_out, TRACES, "{mode:?} {percentage}%");
            assert_binomial(kept, f64::from(percentage) / 100.0);
        }
    }
}

#[test]
fn independently_built_samplers_keep_the_same_traces() {
    let ids = trace_ids(2);
    for mode in [
        SamplerMode::Proportional,
        SamplerMode::Equalizing,
        SamplerMode::HashSeed,
    ] {
        let mut first = spans(&ids);
        let mut second = spans(&ids);
        sample_traces(&Sampler::new(&config(25.0, mode)), &mut first);
        sample_traces(&Sampler::new(&config(25.0, mode)), &mut second);
        assert_eq!(kept_ids(&first), kept_ids(&second), "{mode:?}");
        assert_binomial(kept_ids(&first).len(), 0.25);
    }
}

#[test]
fn kept_spans_carry_the_threshold_in_tracestate() {
    let ids = trace_ids(3);
    let mut req = spans(&ids);
    sample_traces(
        &Sampler::new(&config(10.0, SamplerMode::Proportional)),
        &mut req,
    );
    for span in kept_spans(&req) {
        assert_eq!(span.trace_state, "ot=th:e666");
        let randomness = Randomness::from_trace_id(&span.trace_id).expect("valid");
        assert!(randomness.raw() >= 0xe666 << 40);
    }
}

/// Upstream keeps 50% (and writes th:8); this sampler then runs in `mode` at 25%.
fn two_stages(mode: SamplerMode) -> (usize, BTreeSet<String>) {
    let mut req = spans(&trace_ids(4));
    sample_traces(
        &Sampler::new(&config(50.0, SamplerMode::Proportional)),
        &mut req,
    );
    assert_binomial(kept_spans(&req).len(), 0.5);
    sample_traces(&Sampler::new(&config(25.0, mode)), &mut req);
    let states = kept_spans(&req)
        .iter()
        .map(|s| s.trace_state.clone())
        .collect();
    (kept_spans(&req).len(), states)
}

#[test]
fn equalizing_never_raises_the_sampling_probability() {
    let (kept, states) = two_stages(SamplerMode::Equalizing);
    assert_binomial(kept, 0.25);
    assert_eq!(states, BTreeSet::from(["ot=th:c".to_string()]));
}

#[test]
fn proportional_multiplies_probabilities() {
    let (kept, states) = two_stages(SamplerMode::Proportional);
    assert_binomial(kept, 0.125);
    assert_eq!(states, BTreeSet::from(["ot=th:e".to_string()]));
}

#[test]
fn equalizing_keeps_a_lower_incoming_probability() {
    let sampler = Sampler::new(&config(50.0, SamplerMode::Equalizing));
    let span = |state: &str| Span {
        trace_id: [vec![0; 9], vec![0xf0, 0, 0, 0, 0, 0, 0]].concat(),
        trace_state: state.to_string(),
        ..Default::default()
    };
    // Incoming 25% (th:c) is already below 50%: kept as it is, nothing rewritten.
    assert_eq!(sampler.span(&span("ot=th:c")), Outcome::Keep(None));
    // Incoming 100%: lowered to this sampler's 50%.
    assert_eq!(
        sampler.span(&span("ot=th:0")),
        Outcome::Keep(Some("8".into()))
    );
}

#[test]
fn explicit_rv_replaces_the_trace_id_randomness() {
    let sampler = Sampler::new(&config(1.0, SamplerMode::Proportional));
    let mut span = Span {
        trace_id: vec![1; 16],
        ..Default::default()
    };
    assert_eq!(sampler.span(&span), Outcome::SampledOut);
    span.trace_state = "ot=rv:ffffffffffffff".to_string();
    assert_eq!(sampler.span(&span), Outcome::Keep(Some("fd71".into())));
}

#[test]
fn tracestate_keeps_other_keys_and_vendors() {
    let merged = tracestate::with_threshold("vendor=x,ot=p:8;th:f;rv:00000000000001", "c");
    assert_eq!(merged, "ot=th:c;p:8;rv:00000000000001,vendor=x");
    assert_eq!(tracestate::with_threshold("", "8"), "ot=th:8");
    assert_eq!(
        tracestate::with_threshold("a=1, b=2", "8"),
        "ot=th:8,a=1,b=2"
    );
}

#[test]
fn fail_closed_drops_items_without_usable_randomness() {
    let no_id = Span::default();
    let bad_th = Span {
        trace_id: vec![0xff; 16],
        trace_state: "ot=th:XYZ".to_string(),
        ..Default::default()
    };
    let closed = Sampler::new(&config(50.0, SamplerMode::Proportional));
    assert_eq!(closed.span(&no_id), Outcome::NoRandomness);
    assert_eq!(closed.span(&bad_th), Outcome::NoRandomness);
    let open = Sampler::new(&ProbabilisticSamplerConfig {
        fail_closed: false,
        ..config(50.0, SamplerMode::Proportional)
    });
    assert_eq!(open.span(&no_id), Outcome::Keep(None));
    assert_eq!(open.span(&bad_th), Outcome::Keep(None));

    let mut req = spans(&[vec![0; 16], vec![0xff; 16], vec![1; 16]]);
    let tally = sample_traces(&closed, &mut req);
    assert_eq!(
        tally,
        Tally {
            sampled_out: 1,
            no_randomness: 1
        }
    );
    assert_eq!(kept_ids(&req), BTreeSet::from([vec![0xff; 16]]));
}

#[test]
fn sampling_priority_forces_span_decisions() {
    let sampler = Sampler::new(&config(0.0, SamplerMode::Proportional));
    let span = |priority: i64| Span {
        trace_id: vec![1; 16],
        attributes: vec![int("sampling.priority", priority)],
        ..Default::default()
    };
    assert_eq!(sampler.span(&span(1)), Outcome::Keep(Some("0".into())));
    let keep_all = Sampler::new(&config(100.0, SamplerMode::Proportional));
    assert_eq!(keep_all.span(&span(0)), Outcome::SampledOut);
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn logs(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn kept_records(req: &ExportLogsServiceRequest) -> Vec<&LogRecord> {
    req.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect()
}

#[test]
fn kept_log_records_carry_the_threshold_attribute() {
    let records = trace_ids(5)
        .into_iter()
        .map(|trace_id| LogRecord {
            trace_id,
            ..Default::default()
        })
        .collect();
    let mut req = logs(records);
    sample_logs(
        &Sampler::new(&config(25.0, SamplerMode::Proportional)),
        &mut req,
    );
    let kept = kept_records(&req);
    assert_binomial(kept.len(), 0.25);
    for record in kept {
        assert_eq!(record.attributes, [string("sampling.threshold", "c")]);
    }
}

#[test]
fn log_records_can_take_randomness_from_an_attribute() {
    let config = ProbabilisticSamplerConfig {
        sampling_percentage: 25.0,
        attribute_source: AttributeSource::Record,
        from_attribute: "request.id".to_string(),
        ..Default::default()
    };
    assert_eq!(config.effective_mode(), SamplerMode::HashSeed);
    // Request IDs as services make them: random, not a counter (FNV's low bits vary
    // too little over short sequential strings).
    let records = |n: usize| -> Vec<LogRecord> {
        let mut ids = Ids(6);
        (0..n)
            .map(|_| LogRecord {
                attributes: vec![string("request.id", &format!("{:016x}", ids.next_u64()))],
                ..Default::default()
            })
            .collect()
    };
    let mut first = logs(records(TRACES));
    let mut second = logs(records(TRACES));
    sample_logs(&Sampler::new(&config), &mut first);
    sample_logs(&Sampler::new(&config), &mut second);
    assert_binomial(kept_records(&first).len(), 0.25);
    assert_eq!(first, second);
    // Without the attribute there is no randomness.
    let mut missing = logs(vec![LogRecord::default()]);
    let tally = sample_logs(&Sampler::new(&config), &mut missing);
    assert_eq!(tally.no_randomness, 1);
}

#[test]
fn log_sampling_priority_replaces_the_percentage() {
    let sampler = Sampler::new(&ProbabilisticSamplerConfig {
        sampling_priority: "priority".to_string(),
        ..config(0.0, SamplerMode::Proportional)
    });
    let record = |priority: i64| LogRecord {
        trace_id: vec![1; 16],
        attributes: vec![int("priority", priority)],
        ..Default::default()
    };
    assert_eq!(
        sampler.log_record(&record(100)),
        Outcome::Keep(Some("0".into()))
    );
    assert_eq!(sampler.log_record(&record(0)), Outcome::SampledOut);
}

#[test]
fn default_mode_follows_the_collector() {
    let defaults = ProbabilisticSamplerConfig::default();
    assert_eq!(defaults.effective_mode(), SamplerMode::Proportional);
    assert!(defaults.fail_closed);
    assert_eq!(defaults.sampling_precision, 4);
    let seeded = ProbabilisticSamplerConfig {
        hash_seed: 22,
        ..Default::default()
    };
    assert_eq!(seeded.effective_mode(), SamplerMode::HashSeed);
    assert_eq!(SPACE, 1 << 56);
}

#[test]
fn config_errors_name_the_key() {
    use sentinel_pipeline::testing::snippet;
    use sentinel_pipeline::Factory;

    let factory = super::ProbabilisticSamplerFactory;
    let effective = factory
        .check(&snippet("sampling_percentage: 25\nmode: equalizing"))
        .expect("valid");
    assert_eq!(effective["fail_closed"], true);
    assert_eq!(effective["attribute_source"], "traceID");
    for (yaml, words) in [
        ("sampling_precision: 15", "sampling_precision"),
        ("sampling_percentage: -1", "sampling_percentage"),
        ("attribute_source: record", "from_attribute"),
        ("mode: random", "proportional, equalizing, hash_seed"),
        ("sampling_rate: 5", "sampling_rate"),
    ] {
        let diagnostics = factory.check(&snippet(yaml)).unwrap_err();
        let text = format!("{diagnostics:?}");
        assert!(text.contains(words), "{yaml}: {text}");
    }
}
