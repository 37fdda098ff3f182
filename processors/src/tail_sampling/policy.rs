//! Compiled policies and how one trace is evaluated against them.

use std::collections::HashSet;

use regex::RegexSet;
use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use sentinel_pipeline::otlp::trace::v1::Span;
use tokio::time::{Duration, Instant};

use super::policy_config::{CompositeConfig, PolicyConfig, PolicyType, StringAttributeConfig};
use super::trace::TraceView;
use crate::probabilistic_sampler::threshold::{Randomness, Threshold};
use crate::probabilistic_sampler::tracestate;

/// One policy's verdict, with the Collector's deprecated inverted verdicts kept apart so
/// that they combine as they do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Sampled,
    NotSampled,
    /// An inverted match that did not match: samples unless another policy says no.
    InvertSampled,
    /// An inverted match that matched: a veto.
    InvertNotSampled,
    /// A `drop` policy matched: a veto.
    Dropped,
}

impl Verdict {
    /// Inside `and`, `drop` and `composite`, an inverted verdict is a plain one.
    fn plain(self) -> bool {
        matches!(self, Verdict::Sampled | Verdict::InvertSampled)
    }
}

/// A named, compiled policy.
pub struct Policy {
    pub name: String,
    rule: Rule,
}

enum Rule {
    Always,
    Latency {
        min: u64,
        max: Option<u64>,
    },
    Status(Vec<i32>),
    Attribute {
        key: String,
        test: AttributeTest,
        invert: bool,
    },
    Probabilistic(Threshold),
    RateLimit(RateWindow),
    SpanCount {
        min: usize,
        max: Option<usize>,
    },
    TraceState {
        key: String,
        values: HashSet<String>,
    },
    And(Vec<Policy>),
    Drop(Vec<Policy>),
    Composite(Composite),
}

enum AttributeTest {
    Exact(HashSet<String>),
    Pattern(RegexSet),
    Range { min: f64, max: f64 },
    Bool(bool),
}

impl AttributeTest {
    fn matches(&self, value: &any_value::Value) -> bool {
        use any_value::Value;
        match (self, value) {
            (AttributeTest::Exact(values), Value::StringValue(s)) => values.contains(s),
            (AttributeTest::Pattern(set), Value::StringValue(s)) => set.is_match(s),
            (AttributeTest::Range { min, max }, Value::IntValue(i)) => {
                (*min..=*max).contains(&(*i as f64))
            }
            (AttributeTest::Range { min, max }, Value::DoubleValue(d)) => (*min..=*max).contains(d),
            (AttributeTest::Bool(expected), Value::BoolValue(b)) => expected == b,
            _ => false,
        }
    }
}

/// Spans sampled in the current one-second window, against a limit.
struct RateWindow {
    limit: u64,
    started: Option<Instant>,
    used: u64,
}

impl RateWindow {
    fn new(limit: u64) -> RateWindow {
        RateWindow {
            limit,
            started: None,
            used: 0,
        }
    }

    fn has_room(&mut self, spans: u64, now: Instant) -> bool {
        if self
            .started
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1))
        {
            self.started = Some(now);
            self.used = 0;
        }
        self.used + spans <= self.limit
    }

    fn take(&mut self, spans: u64) {
        self.used += spans;
    }
}

/// `composite`: sub-policies tried in order, each drawing on its own share of the rate
/// (or on the shared remainder when it has none), all within the total.
struct Composite {
    ordered: Vec<(Policy, usize)>,
    windows: Vec<RateWindow>,
    total: RateWindow,
}

impl Policy {
    pub fn compile(config: &PolicyConfig) -> Policy {
        Policy {
            name: config.name.clone(),
            rule: Rule::compile(config),
        }
    }

    /// Evaluates this policy for `trace` at `now` (rate windows advance with it).
    pub fn evaluate(&mut self, trace: &TraceView, now: Instant) -> Verdict {
        let hit = |found: bool, invert: bool| match (found, invert) {
            (true, false) => Verdict::Sampled,
            (false, false) => Verdict::NotSampled,
            (true, true) => Verdict::InvertNotSampled,
            (false, true) => Verdict::InvertSampled,
        };
        let sampled = |yes: bool| hit(yes, false);
        match &mut self.rule {
            Rule::Always => Verdict::Sampled,
            Rule::Latency { min, max } => {
                let duration = trace.facts.duration_nanos();
                sampled(duration >= *min && max.is_none_or(|max| duration <= max))
            }
            Rule::Status(codes) => sampled(trace.spans().any(|(_, span)| {
                let code = span.status.as_ref().map_or(0, |s| s.code);
                codes.contains(&code)
            })),
            Rule::Attribute { key, test, invert } => {
                let found = trace.spans().any(|(origin, span)| {
                    has_match(&span.attributes, key, test)
                        || has_match(origin.resource_attributes(), key, test)
                });
                hit(found, *invert)
            }
            Rule::Probabilistic(threshold) => {
                sampled(randomness(trace).is_some_and(|r| threshold.keeps(r)))
            }
            Rule::RateLimit(window) => {
                let spans = trace.facts.span_count as u64;
                let room = window.has_room(spans, now);
                if room {
                    window.take(spans);
                }
                sampled(room)
            }
            Rule::SpanCount { min, max } => {
                let n = trace.facts.span_count;
                sampled(n >= *min && max.is_none_or(|max| n <= max))
            }
            Rule::TraceState { key, values } => sampled(
                trace
                    .spans()
                    .any(|(_, span)| trace_state_matches(span, key, values)),
            ),
            Rule::And(policies) => {
                sampled(policies.iter_mut().all(|p| p.evaluate(trace, now).plain()))
            }
            Rule::Drop(policies) => {
                let all = policies.iter_mut().all(|p| p.evaluate(trace, now).plain());
                if all {
                    Verdict::Dropped
                } else {
                    Verdict::NotSampled
                }
            }
            Rule::Composite(composite) => sampled(composite.evaluate(trace, now)),
        }
    }

    pub fn is_drop(&self) -> bool {
        matches!(self.rule, Rule::Drop(_))
    }

    /// Whether deciding needs the spans' contents, not just the trace's facts.
    pub fn needs_spans(&self) -> bool {
        match &self.rule {
            Rule::Status(_) | Rule::Attribute { .. } | Rule::TraceState { .. } => true,
            Rule::And(policies) | Rule::Drop(policies) => policies.iter().any(Policy::needs_spans),
            Rule::Composite(c) => c.ordered.iter().any(|(p, _)| p.needs_spans()),
            Rule::Always
            | Rule::Latency { .. }
            | Rule::Probabilistic(_)
            | Rule::RateLimit(_)
            | Rule::SpanCount { .. } => false,
        }
    }
}

impl Rule {
    fn compile(config: &PolicyConfig) -> Rule {
        // `validate` checked that the settings for the type are present.
        let settings = "validated policy settings";
        match config.policy_type {
            PolicyType::AlwaysSample => Rule::Always,
            PolicyType::Latency => {
                let c = config.latency.as_ref().expect(settings);
                Rule::Latency {
                    min: c.threshold_ms.saturating_mul(1_000_000),
                    max: (c.upper_threshold_ms != 0)
                        .then(|| c.upper_threshold_ms.saturating_mul(1_000_000)),
                }
            }
            PolicyType::StatusCode => {
                let c = config.status_code.as_ref().expect(settings);
                Rule::Status(c.status_codes.iter().map(|s| *s as i32).collect())
            }
            PolicyType::StringAttribute => {
                string_rule(config.string_attribute.as_ref().expect(settings))
            }
            PolicyType::NumericAttribute => {
                let c = config.numeric_attribute.as_ref().expect(settings);
                Rule::Attribute {
                    key: c.key.clone(),
                    test: AttributeTest::Range {
                        min: c.min_value.unwrap_or(f64::NEG_INFINITY),
                        max: c.max_value.unwrap_or(f64::INFINITY),
                    },
                    invert: c.invert_match,
                }
            }
            PolicyType::BooleanAttribute => {
                let c = config.boolean_attribute.as_ref().expect(settings);
                Rule::Attribute {
                    key: c.key.clone(),
                    test: AttributeTest::Bool(c.value),
                    invert: c.invert_match,
                }
            }
            PolicyType::Probabilistic => {
                let c = config.probabilistic.as_ref().expect(settings);
                // Full precision: the policy keeps exactly the configured share.
                Rule::Probabilistic(Threshold::from_probability(
                    c.sampling_percentage / 100.0,
                    14,
                ))
            }
            PolicyType::RateLimiting => {
                let c = config.rate_limiting.as_ref().expect(settings);
                Rule::RateLimit(RateWindow::new(c.spans_per_second))
            }
            PolicyType::SpanCount => {
                let c = config.span_count.as_ref().expect(settings);
                Rule::SpanCount {
                    min: c.min_spans as usize,
                    max: (c.max_spans != 0).then_some(c.max_spans as usize),
                }
            }
            PolicyType::TraceState => {
                let c = config.trace_state.as_ref().expect(settings);
                Rule::TraceState {
                    key: c.key.clone(),
                    values: c.values.iter().cloned().collect(),
                }
            }
            PolicyType::And => Rule::And(compile_all(
                &config.and.as_ref().expect(settings).and_sub_policy,
            )),
            PolicyType::Drop => Rule::Drop(compile_all(
                &config.drop.as_ref().expect(settings).drop_sub_policy,
            )),
            PolicyType::Composite => Rule::Composite(Composite::compile(
                config.composite.as_ref().expect(settings),
            )),
        }
    }
}

fn compile_all(configs: &[PolicyConfig]) -> Vec<Policy> {
    configs.iter().map(Policy::compile).collect()
}

fn string_rule(c: &StringAttributeConfig) -> Rule {
    let test = if c.enabled_regex_matching {
        AttributeTest::Pattern(RegexSet::new(&c.values).expect("validated expressions"))
    } else {
        AttributeTest::Exact(c.values.iter().cloned().collect())
    };
    Rule::Attribute {
        key: c.key.clone(),
        test,
        invert: c.invert_match,
    }
}

impl Composite {
    fn compile(config: &CompositeConfig) -> Composite {
        let total = config.max_total_spans_per_second;
        let share = |percent: f64| (total as f64 * percent / 100.0) as u64;
        let allocated: f64 = config.rate_allocation.iter().map(|a| a.percent).sum();
        // Window 0 is the remainder shared by sub-policies without an allocation.
        let mut windows = vec![RateWindow::new(share(100.0 - allocated))];
        let mut ordered = Vec::new();
        for name in &config.policy_order {
            let sub = config
                .composite_sub_policy
                .iter()
                .find(|p| &p.name == name)
                .expect("validated policy_order");
            let window = match config.rate_allocation.iter().find(|a| &a.policy == name) {
                Some(allocation) => {
                    windows.push(RateWindow::new(share(allocation.percent)));
                    windows.len() - 1
                }
                None => 0,
            };
            ordered.push((Policy::compile(sub), window));
        }
        Composite {
            ordered,
            windows,
            total: RateWindow::new(total),
        }
    }

    fn evaluate(&mut self, trace: &TraceView, now: Instant) -> bool {
        let spans = trace.facts.span_count as u64;
        if !self.total.has_room(spans, now) {
            return false;
        }
        for (policy, window) in &mut self.ordered {
            if !policy.evaluate(trace, now).plain() {
                continue;
            }
            let window = &mut self.windows[*window];
            if window.has_room(spans, now) {
                window.take(spans);
                self.total.take(spans);
                return true;
            }
        }
        false
    }
}

fn has_match(attributes: &[KeyValue], key: &str, test: &AttributeTest) -> bool {
    attributes
        .iter()
        .filter(|kv| kv.key == key)
        .filter_map(|kv| kv.value.as_ref().and_then(|v| v.value.as_ref()))
        .any(|value| test.matches(value))
}

fn trace_state_matches(span: &Span, key: &str, values: &HashSet<String>) -> bool {
    tracestate::entry(&span.trace_state, key).is_some_and(|v| values.contains(v))
}

/// The trace's randomness: an explicit `rv` on any span, else the trace ID's low 56 bits.
fn randomness(trace: &TraceView) -> Option<Randomness> {
    trace
        .facts
        .explicit_randomness
        .or_else(|| Randomness::from_trace_id(&trace.facts.trace_id))
}

/// The Collector's combination of verdicts: a drop or inverted match vetoes; otherwise a
/// sample, or an inverted non-match with no plain "not sampled", samples.
pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> bool {
    let (mut sampled, mut invert_sampled, mut not_sampled) = (false, false, false);
    for verdict in verdicts {
        match verdict {
            Verdict::Dropped | Verdict::InvertNotSampled => return false,
            Verdict::Sampled => sampled = true,
            Verdict::InvertSampled => invert_sampled = true,
            Verdict::NotSampled => not_sampled = true,
        }
    }
    sampled || (invert_sampled && !not_sampled)
}
