//! Finds LLM calls in telemetry: GenAI spans (current and deprecated OpenTelemetry keys,
//! OpenInference, OpenLLMetry) and Claude Code's `claude_code.api_request` log events.

use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use sentinel_pipeline::otlp::logs::v1::LogRecord;
use sentinel_pipeline::otlp::trace::v1::Span;

use super::prices::Tokens;

/// Claude Code's per-request log event.
pub const API_REQUEST_EVENT: &str = "claude_code.api_request";

// Each list is in order of preference: OpenTelemetry GenAI, OpenLLMetry, OpenInference.
const INPUT: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
];
const OUTPUT: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
];
const TOTAL: &[&str] = &[
    "gen_ai.usage.total_tokens",
    "llm.usage.total_tokens",
    "llm.token_count.total",
];
const CACHE_READ: &[&str] = &[
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
];
const CACHE_CREATION: &[&str] = &[
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
];
const RESPONSE_MODEL: &[&str] = &["gen_ai.response.model", "llm.response.model"];
const REQUEST_MODEL: &[&str] = &[
    "gen_ai.request.model",
    "llm.model_name",
    "llm.request.model",
];
/// `gen_ai.system` is the deprecated name of `gen_ai.provider.name`.
const PROVIDER: &[&str] = &[
    "gen_ai.provider.name",
    "gen_ai.system",
    "llm.provider",
    "llm.system",
];
const SESSION: &[&str] = &["session.id", "gen_ai.conversation.id"];
/// `gen_ai.operation.name` values of spans that wrap model calls rather than make one.
const AGGREGATE_OPERATIONS: &[&str] = &[
    "invoke_agent",
    "create_agent",
    "execute_tool",
    "invoke_workflow",
];

/// One LLM call, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmCall {
    /// The id used for pricing: the response model (the exact snapshot) if known.
    pub model: String,
    /// The `gen_ai.request.model` label: the requested model, else the response model.
    pub request_model: String,
    pub provider: Option<String>,
    pub session: Option<String>,
    pub tokens: Tokens,
    pub time_unix_nano: u64,
    /// The cost the source computed itself (Claude Code's `cost_usd`).
    pub reported_cost_usd: Option<f64>,
    /// An `llm_cost` processor upstream already priced this call (it carries
    /// [`COST_ATTRIBUTE`] or [`UNPRICED_ATTRIBUTE`]): it was counted and warned about
    /// there, so pricing it again here must not count it twice.
    pub priced_upstream: bool,
}

/// The cost the `llm_cost` processor writes onto a priced span or event.
pub const COST_ATTRIBUTE: &str = "sentinel.llm.cost_usd";
/// The mark the `llm_cost` processor writes onto a call it could not price.
pub const UNPRICED_ATTRIBUTE: &str = "sentinel.llm.unpriced";

fn priced_upstream(attrs: &[KeyValue]) -> bool {
    attrs
        .iter()
        .any(|kv| kv.key == COST_ATTRIBUTE || kv.key == UNPRICED_ATTRIBUTE)
}

/// How a span's input token count relates to its cache token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanInput {
    /// The GenAI conventions: input tokens include cache reads and writes. When the cache
    /// counts exceed the input count, the source evidently excludes them, and they are
    /// not subtracted.
    IncludesCache,
    /// Input tokens are only the uncached ones.
    ExcludesCache,
}

/// The LLM call a span describes, if it has a model and token counts.
pub fn from_span(span: &Span, input_mode: SpanInput) -> Option<LlmCall> {
    let attrs = &span.attributes;
    // Agent and workflow spans may repeat the token counts of the model calls inside them;
    // only the calls themselves are priced, so nothing is counted twice.
    if text(attrs, &["openinference.span.kind"]).is_some_and(|k| !k.eq_ignore_ascii_case("LLM"))
        || text(attrs, &["gen_ai.operation.name"])
            .is_some_and(|op| AGGREGATE_OPERATIONS.contains(&op))
    {
        return None;
    }
    let input = count(attrs, INPUT);
    let mut output = count(attrs, OUTPUT);
    if input.is_none() && output.is_none() {
        return None;
    }
    if output.is_none() {
        output = count(attrs, TOTAL).map(|total| total.saturating_sub(input.unwrap_or(0)));
    }
    let cache_read = count(attrs, CACHE_READ).unwrap_or(0);
    let cache_creation = count(attrs, CACHE_CREATION).unwrap_or(0);
    let input = input.unwrap_or(0);
    let cached = cache_read + cache_creation;
    let uncached = match input_mode {
        SpanInput::IncludesCache if input >= cached => input - cached,
        _ => input,
    };
    let response = text(attrs, RESPONSE_MODEL);
    let request = text(attrs, REQUEST_MODEL);
    let model = response.or(request)?.to_string();
    let time = [span.end_time_unix_nano, span.start_time_unix_nano];
    Some(LlmCall {
        request_model: request.unwrap_or(&model).to_string(),
        model,
        provider: text(attrs, PROVIDER).map(str::to_string),
        session: text(attrs, SESSION).map(str::to_string),
        tokens: Tokens {
            input: uncached,
            output: output.unwrap_or(0),
            cache_read,
            cache_creation,
        },
        time_unix_nano: time.into_iter().find(|t| *t > 0).unwrap_or_else(now),
        reported_cost_usd: None,
        priced_upstream: priced_upstream(attrs),
    })
}

/// Whether a log record is Claude Code's `claude_code.api_request` event: by the record's
/// event name, its `event.name` attribute, or its body (Claude Code sets the body to the
/// full event name; some versions put only `api_request` in `event.name`).
pub fn is_api_request(record: &LogRecord) -> bool {
    let body = record.body.as_ref().and_then(|b| b.value.as_ref());
    record.event_name == API_REQUEST_EVENT
        || text(&record.attributes, &["event.name"]) == Some(API_REQUEST_EVENT)
        || matches!(body, Some(any_value::Value::StringValue(s)) if s == API_REQUEST_EVENT)
}

/// The LLM call of a `claude_code.api_request` event. Its token counts are Anthropic's:
/// `input_tokens` excludes cache reads and writes.
pub fn from_api_request(record: &LogRecord) -> Option<LlmCall> {
    if !is_api_request(record) {
        return None;
    }
    let attrs = &record.attributes;
    let model = text(attrs, &["model"])?.to_string();
    let reported = number(attrs, "cost_usd")
        .or_else(|| number(attrs, "cost_usd_micros").map(|micros| micros / 1e6));
    let time = [record.time_unix_nano, record.observed_time_unix_nano];
    Some(LlmCall {
        request_model: model.clone(),
        model,
        provider: text(attrs, PROVIDER).map(str::to_string),
        session: text(attrs, SESSION).map(str::to_string),
        tokens: Tokens {
            input: count(attrs, &["input_tokens"]).unwrap_or(0),
            output: count(attrs, &["output_tokens"]).unwrap_or(0),
            cache_read: count(attrs, &["cache_read_tokens"]).unwrap_or(0),
            cache_creation: count(attrs, &["cache_creation_tokens"]).unwrap_or(0),
        },
        time_unix_nano: time.into_iter().find(|t| *t > 0).unwrap_or_else(now),
        reported_cost_usd: reported,
        priced_upstream: priced_upstream(attrs),
    })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn value<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

/// The first non-empty string among `keys`.
pub fn text<'a>(attrs: &'a [KeyValue], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| match value(attrs, key) {
        Some(any_value::Value::StringValue(s)) if !s.trim().is_empty() => Some(s.as_str()),
        _ => None,
    })
}

/// The first non-negative whole count among `keys`; integers, whole doubles and numeric
/// strings are accepted (SDKs differ).
fn count(attrs: &[KeyValue], keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|key| match value(attrs, key)? {
        any_value::Value::IntValue(i) => u64::try_from(*i).ok(),
        any_value::Value::DoubleValue(d) if *d >= 0.0 && d.fract() == 0.0 => Some(*d as u64),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn number(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match value(attrs, key)? {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
}
