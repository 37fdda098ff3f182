//! The policies' config, written as in the Collector: a `name`, a `type`, and a key named
//! after the type holding that policy's settings.

use sentinel_pipeline::config::ValidationError;
use serde::{Deserialize, Serialize};

/// How deep `and`, `drop` and `composite` policies may nest.
const MAX_DEPTH: usize = 4;

/// One policy.
///
/// ```yaml
/// - name: slow-checkout
///   type: and
///   and:
///     and_sub_policy:
///       - {name: slow, type: latency, latency: {threshold_ms: 1000}}
///       - {name: checkout, type: string_attribute,
///          string_attribute: {key: http.route, values: [/checkout]}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy's name, used in self-metrics and by `composite`'s `policy_order`.
    pub name: String,
    /// The policy type; its settings go under the key of the same name.
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<StatusCodeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_attribute: Option<StringAttributeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_attribute: Option<NumericAttributeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean_attribute: Option<BooleanAttributeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilistic: Option<ProbabilisticConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimitingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_count: Option<SpanCountConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_state: Option<TraceStateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<AndConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite: Option<CompositeConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    /// Samples every trace.
    AlwaysSample,
    /// Samples traces whose duration (earliest start to latest end) is at least
    /// `threshold_ms` (and at most `upper_threshold_ms` when set).
    Latency,
    /// Samples traces with a span whose status is one of `status_codes`.
    StatusCode,
    /// Samples traces with a span or resource attribute `key` equal to (or, with
    /// `enabled_regex_matching`, matching) one of `values`.
    StringAttribute,
    /// Samples traces with an integer or double attribute `key` within
    /// [`min_value`, `max_value`].
    NumericAttribute,
    /// Samples traces with a boolean attribute `key` equal to `value`.
    BooleanAttribute,
    /// Samples `sampling_percentage` of traces, consistently (OTEP 235 threshold on the
    /// trace ID's randomness, as `probabilistic_sampler` does).
    Probabilistic,
    /// Samples traces while fewer than `spans_per_second` spans were sampled this second.
    RateLimiting,
    /// Samples traces with between `min_spans` and `max_spans` spans.
    SpanCount,
    /// Samples traces with a span whose `tracestate` has `key` set to one of `values`.
    TraceState,
    /// Samples traces every sub-policy samples.
    And,
    /// Drops traces every sub-policy samples, whatever the other policies say.
    Drop,
    /// Sub-policies in `policy_order`, each with a share of `max_total_spans_per_second`.
    Composite,
}

impl PolicyType {
    pub fn key(self) -> &'static str {
        match self {
            PolicyType::AlwaysSample => "always_sample",
            PolicyType::Latency => "latency",
            PolicyType::StatusCode => "status_code",
            PolicyType::StringAttribute => "string_attribute",
            PolicyType::NumericAttribute => "numeric_attribute",
            PolicyType::BooleanAttribute => "boolean_attribute",
            PolicyType::Probabilistic => "probabilistic",
            PolicyType::RateLimiting => "rate_limiting",
            PolicyType::SpanCount => "span_count",
            PolicyType::TraceState => "trace_state",
            PolicyType::And => "and",
            PolicyType::Drop => "drop",
            PolicyType::Composite => "composite",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// The shortest duration sampled, in milliseconds.
    pub threshold_ms: u64,
    /// The longest duration sampled; 0 (default) for no upper bound.
    #[serde(default)]
    pub upper_threshold_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCodeConfig {
    /// `OK`, `ERROR` or `UNSET`.
    pub status_codes: Vec<StatusCodeName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusCodeName {
    #[serde(rename = "UNSET")]
    Unset,
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ERROR")]
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringAttributeConfig {
    pub key: String,
    /// Exact values, or regular expressions with `enabled_regex_matching` (matching
    /// anywhere in the value, as Go's `MatchString` does: anchor with `^...$`).
    pub values: Vec<String>,
    #[serde(default)]
    pub enabled_regex_matching: bool,
    /// Accepted for the Collector's configs; the expressions are compiled once into one
    /// set, so no match cache is needed.
    #[serde(default)]
    pub cache_max_size: usize,
    /// Deprecated in the Collector in favour of `drop`: a match becomes a veto.
    #[serde(default)]
    pub invert_match: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericAttributeConfig {
    pub key: String,
    /// Inclusive lower bound; unbounded when absent.
    #[serde(default)]
    pub min_value: Option<f64>,
    /// Inclusive upper bound; unbounded when absent.
    #[serde(default)]
    pub max_value: Option<f64>,
    #[serde(default)]
    pub invert_match: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BooleanAttributeConfig {
    pub key: String,
    pub value: bool,
    #[serde(default)]
    pub invert_match: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticConfig {
    /// Percentage of traces sampled, 0 to 100.
    pub sampling_percentage: f64,
    /// The Collector hashes the trace ID with this salt; Sentinel decides on the trace
    /// ID's own randomness so that every sampler agrees, and refuses a salt rather than
    /// ignore it.
    #[serde(default)]
    pub hash_salt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingConfig {
    pub spans_per_second: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCountConfig {
    pub min_spans: u64,
    /// 0 (default) for no upper bound.
    #[serde(default)]
    pub max_spans: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceStateConfig {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndConfig {
    pub and_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {
    pub drop_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeConfig {
    /// Spans sampled per second by all sub-policies together.
    pub max_total_spans_per_second: u64,
    /// Sub-policy names, in the order they are tried.
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    /// Each listed sub-policy's percentage of `max_total_spans_per_second`; sub-policies
    /// not listed share what is left.
    #[serde(default)]
    pub rate_allocation: Vec<RateAllocation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateAllocation {
    pub policy: String,
    pub percent: f64,
}

impl PolicyConfig {
    /// The settings key present, if any, other than the one `type` names.
    fn stray_key(&self) -> Option<&'static str> {
        let present = [
            (PolicyType::Latency, self.latency.is_some()),
            (PolicyType::StatusCode, self.status_code.is_some()),
            (PolicyType::StringAttribute, self.string_attribute.is_some()),
            (
                PolicyType::NumericAttribute,
                self.numeric_attribute.is_some(),
            ),
            (
                PolicyType::BooleanAttribute,
                self.boolean_attribute.is_some(),
            ),
            (PolicyType::Probabilistic, self.probabilistic.is_some()),
            (PolicyType::RateLimiting, self.rate_limiting.is_some()),
            (PolicyType::SpanCount, self.span_count.is_some()),
            (PolicyType::TraceState, self.trace_state.is_some()),
            (PolicyType::And, self.and.is_some()),
            (PolicyType::Drop, self.drop.is_some()),
            (PolicyType::Composite, self.composite.is_some()),
        ];
        present
            .into_iter()
            .find(|(kind, set)| *set && *kind != self.policy_type)
            .map(|(kind, _)| kind.key())
    }

    /// Checks this policy and its sub-policies; `depth` is how deeply it is nested.
    pub fn validate(&self, depth: usize) -> Result<(), ValidationError> {
        if self.name.is_empty() {
            return Err(ValidationError::at("name", "must not be empty"));
        }
        if depth > MAX_DEPTH {
            return Err(ValidationError::new(format!(
                "policies nest at most {MAX_DEPTH} deep"
            )));
        }
        if let Some(stray) = self.stray_key() {
            return Err(ValidationError::at(
                stray,
                format!(
                    "`{stray}` settings on a policy of type `{}`",
                    self.policy_type.key()
                ),
            ));
        }
        let key = self.policy_type.key();
        let missing = || ValidationError::new(format!("type `{key}` needs its `{key}` settings"));
        match self.policy_type {
            PolicyType::AlwaysSample => Ok(()),
            PolicyType::Latency => check_latency(self.latency.as_ref().ok_or_else(missing)?),
            PolicyType::StatusCode => {
                let config = self.status_code.as_ref().ok_or_else(missing)?;
                non_empty(&config.status_codes, "status_code.status_codes")
            }
            PolicyType::StringAttribute => {
                let config = self.string_attribute.as_ref().ok_or_else(missing)?;
                check_string_attribute(config)
            }
            PolicyType::NumericAttribute => {
                let config = self.numeric_attribute.as_ref().ok_or_else(missing)?;
                check_numeric(config)
            }
            PolicyType::BooleanAttribute => {
                let config = self.boolean_attribute.as_ref().ok_or_else(missing)?;
                non_empty_key(&config.key, "boolean_attribute.key")
            }
            PolicyType::Probabilistic => {
                check_probabilistic(self.probabilistic.as_ref().ok_or_else(missing)?)
            }
            PolicyType::RateLimiting => {
                let config = self.rate_limiting.as_ref().ok_or_else(missing)?;
                positive(config.spans_per_second, "rate_limiting.spans_per_second")
            }
            PolicyType::SpanCount => {
                check_span_count(self.span_count.as_ref().ok_or_else(missing)?)
            }
            PolicyType::TraceState => {
                let config = self.trace_state.as_ref().ok_or_else(missing)?;
                non_empty_key(&config.key, "trace_state.key")?;
                non_empty(&config.values, "trace_state.values")
            }
            PolicyType::And => {
                let config = self.and.as_ref().ok_or_else(missing)?;
                check_subpolicies(&config.and_sub_policy, "and.and_sub_policy", depth)
            }
            PolicyType::Drop => {
                let config = self.drop.as_ref().ok_or_else(missing)?;
                check_subpolicies(&config.drop_sub_policy, "drop.drop_sub_policy", depth)
            }
            PolicyType::Composite => {
                check_composite(self.composite.as_ref().ok_or_else(missing)?, depth)
            }
        }
    }
}

fn non_empty<T>(values: &[T], path: &str) -> Result<(), ValidationError> {
    if values.is_empty() {
        return Err(ValidationError::at(path, "must list at least one value"));
    }
    Ok(())
}

fn non_empty_key(key: &str, path: &str) -> Result<(), ValidationError> {
    if key.is_empty() {
        return Err(ValidationError::at(path, "must not be empty"));
    }
    Ok(())
}

fn positive(value: u64, path: &str) -> Result<(), ValidationError> {
    if value == 0 {
        return Err(ValidationError::at(path, "must be greater than 0"));
    }
    Ok(())
}

fn check_latency(config: &LatencyConfig) -> Result<(), ValidationError> {
    if config.upper_threshold_ms != 0 && config.upper_threshold_ms < config.threshold_ms {
        return Err(ValidationError::at(
            "latency.upper_threshold_ms",
            "must be 0 (no bound) or at least threshold_ms",
        ));
    }
    Ok(())
}

fn check_string_attribute(config: &StringAttributeConfig) -> Result<(), ValidationError> {
    non_empty_key(&config.key, "string_attribute.key")?;
    non_empty(&config.values, "string_attribute.values")?;
    if config.enabled_regex_matching {
        for (index, pattern) in config.values.iter().enumerate() {
            if let Err(err) = regex::Regex::new(pattern) {
                return Err(ValidationError::at(
                    format!("string_attribute.values.{index}"),
                    format!("`{pattern}` is not a valid regular expression: {err}"),
                ));
            }
        }
    }
    Ok(())
}

fn check_numeric(config: &NumericAttributeConfig) -> Result<(), ValidationError> {
    non_empty_key(&config.key, "numeric_attribute.key")?;
    match (config.min_value, config.max_value) {
        (None, None) => Err(ValidationError::at(
            "numeric_attribute",
            "needs min_value, max_value or both",
        )),
        (Some(min), Some(max)) if min > max => Err(ValidationError::at(
            "numeric_attribute.max_value",
            "must be at least min_value",
        )),
        _ => Ok(()),
    }
}

fn check_probabilistic(config: &ProbabilisticConfig) -> Result<(), ValidationError> {
    if config.hash_salt.is_some() {
        return Err(ValidationError::at(
            "probabilistic.hash_salt",
            "not supported: the policy decides on the trace ID's own randomness (OTEP 235), \
             so that it agrees with probabilistic_sampler and SDK samplers; remove the salt",
        ));
    }
    let p = config.sampling_percentage;
    if !(0.0..=100.0).contains(&p) {
        return Err(ValidationError::at(
            "probabilistic.sampling_percentage",
            "must be between 0 and 100",
        ));
    }
    Ok(())
}

fn check_span_count(config: &SpanCountConfig) -> Result<(), ValidationError> {
    if config.max_spans != 0 && config.max_spans < config.min_spans {
        return Err(ValidationError::at(
            "span_count.max_spans",
            "must be 0 (no bound) or at least min_spans",
        ));
    }
    Ok(())
}

fn check_subpolicies(
    policies: &[PolicyConfig],
    path: &str,
    depth: usize,
) -> Result<(), ValidationError> {
    non_empty(policies, path)?;
    for (index, policy) in policies.iter().enumerate() {
        policy
            .validate(depth + 1)
            .map_err(|err| err.within(&format!("{path}.{index}")))?;
    }
    Ok(())
}

fn check_composite(config: &CompositeConfig, depth: usize) -> Result<(), ValidationError> {
    positive(
        config.max_total_spans_per_second,
        "composite.max_total_spans_per_second",
    )?;
    check_subpolicies(
        &config.composite_sub_policy,
        "composite.composite_sub_policy",
        depth,
    )?;
    let known = |name: &str| config.composite_sub_policy.iter().any(|p| p.name == name);
    for (index, name) in config.policy_order.iter().enumerate() {
        if !known(name) {
            return Err(ValidationError::at(
                format!("composite.policy_order.{index}"),
                format!("`{name}` is not a composite_sub_policy name"),
            ));
        }
    }
    non_empty(&config.policy_order, "composite.policy_order")?;
    let mut total = 0.0;
    for (index, share) in config.rate_allocation.iter().enumerate() {
        if !known(&share.policy) || !(0.0..=100.0).contains(&share.percent) {
            return Err(ValidationError::at(
                format!("composite.rate_allocation.{index}"),
                "needs a composite_sub_policy name and a percent from 0 to 100",
            ));
        }
        total += share.percent;
    }
    if total > 100.0 {
        return Err(ValidationError::at(
            "composite.rate_allocation",
            format!("the percentages add up to {total}, more than 100"),
        ));
    }
    Ok(())
}
