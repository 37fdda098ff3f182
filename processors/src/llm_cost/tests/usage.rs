use super::*;
use crate::llm_cost::prices::Tokens;
use crate::llm_cost::usage::{from_api_request, from_span, LlmCall, SpanInput};

fn call(pairs: &[(&str, V)]) -> Option<LlmCall> {
    from_span(&span(attrs(pairs)), SpanInput::IncludesCache)
}

const GPT_TOKENS: Tokens = Tokens {
    input: 1_000,
    output: 100,
    cache_read: 200,
    cache_creation: 0,
};

#[test]
fn current_genai_attributes_subtract_cache_from_input() {
    let c = call(&[
        ("gen_ai.operation.name", V::S("chat")),
        ("gen_ai.provider.name", V::S("openai")),
        ("gen_ai.request.model", V::S("gpt-4o")),
        ("gen_ai.response.model", V::S("gpt-4o-2024-08-06")),
        ("gen_ai.usage.input_tokens", V::I(1_200)),
        ("gen_ai.usage.output_tokens", V::I(100)),
        ("gen_ai.usage.cache_read.input_tokens", V::I(200)),
        ("session.id", V::S("s-9")),
    ])
    .unwrap();
    assert_eq!(c.tokens, GPT_TOKENS);
    assert_eq!(c.model, "gpt-4o-2024-08-06", "the response model is priced");
    assert_eq!(c.request_model, "gpt-4o", "the request model is the label");
    assert_eq!(c.provider.as_deref(), Some("openai"));
    assert_eq!(c.session.as_deref(), Some("s-9"));
    assert_eq!(
        c.time_unix_nano, 1_780_000_001_000_000_000,
        "the span's end"
    );
}

#[test]
fn deprecated_openllmetry_and_openinference_variants_give_the_same_call() {
    let openllmetry = call(&[
        ("gen_ai.system", V::S("openai")),
        ("gen_ai.request.model", V::S("gpt-4o")),
        ("gen_ai.usage.prompt_tokens", V::I(1_200)),
        ("gen_ai.usage.completion_tokens", V::I(100)),
        ("gen_ai.usage.cache_read_input_tokens", V::I(200)),
        ("llm.usage.total_tokens", V::I(1_300)),
    ])
    .unwrap();
    let openllmetry_total_only = call(&[
        ("gen_ai.system", V::S("openai")),
        ("gen_ai.request.model", V::S("gpt-4o")),
        ("gen_ai.usage.prompt_tokens", V::S("1200")),
        ("llm.usage.total_tokens", V::D(1_300.0)),
        ("gen_ai.usage.cache_read_input_tokens", V::I(200)),
    ])
    .unwrap();
    let openinference = call(&[
        ("openinference.span.kind", V::S("LLM")),
        ("llm.provider", V::S("openai")),
        ("llm.model_name", V::S("gpt-4o")),
        ("llm.token_count.prompt", V::I(1_200)),
        ("llm.token_count.completion", V::I(100)),
        ("llm.token_count.total", V::I(1_300)),
        ("llm.token_count.prompt_details.cache_read", V::I(200)),
    ])
    .unwrap();
    for c in [&openllmetry, &openllmetry_total_only, &openinference] {
        assert_eq!(c.tokens, GPT_TOKENS, "{c:?}");
        assert_eq!(c.model, "gpt-4o");
        assert_eq!(
            c.provider.as_deref(),
            Some("openai"),
            "gen_ai.system / llm.provider"
        );
    }
    // OpenInference cache writes.
    let writes = call(&[
        ("llm.model_name", V::S("claude-sonnet-4-5")),
        ("llm.token_count.prompt", V::I(3_000)),
        ("llm.token_count.completion", V::I(10)),
        ("llm.token_count.prompt_details.cache_write", V::I(2_000)),
    ])
    .unwrap();
    assert_eq!(
        (writes.tokens.input, writes.tokens.cache_creation),
        (1_000, 2_000)
    );
}

#[test]
fn spans_without_a_model_or_tokens_or_of_other_openinference_kinds_are_not_calls() {
    assert!(call(&[("gen_ai.request.model", V::S("gpt-4o"))]).is_none());
    assert!(call(&[("gen_ai.usage.input_tokens", V::I(5))]).is_none());
    assert!(call(&[
        ("openinference.span.kind", V::S("CHAIN")),
        ("llm.model_name", V::S("gpt-4o")),
        ("llm.token_count.prompt", V::I(5)),
    ])
    .is_none());
    assert!(call(&[("http.route", V::S("/"))]).is_none());
    assert!(
        call(&[
            ("gen_ai.operation.name", V::S("invoke_agent")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.usage.input_tokens", V::I(5_000)),
        ])
        .is_none(),
        "an agent span repeating its calls' tokens is not a call"
    );
}

#[test]
fn input_that_is_smaller_than_its_cache_counts_is_taken_as_uncached() {
    // An instrumentation reporting Anthropic's raw counts (input excludes cache).
    let c = call(&[
        ("gen_ai.request.model", V::S("claude-sonnet-4-5")),
        ("gen_ai.usage.input_tokens", V::I(10)),
        ("gen_ai.usage.output_tokens", V::I(10)),
        ("gen_ai.usage.cache_read.input_tokens", V::I(5_000)),
    ])
    .unwrap();
    assert_eq!((c.tokens.input, c.tokens.cache_read), (10, 5_000));
    let explicit = from_span(
        &span(attrs(&[
            ("gen_ai.request.model", V::S("claude-sonnet-4-5")),
            ("gen_ai.usage.input_tokens", V::I(6_000)),
            ("gen_ai.usage.cache_read.input_tokens", V::I(5_000)),
        ])),
        SpanInput::ExcludesCache,
    )
    .unwrap();
    assert_eq!(explicit.tokens.input, 6_000, "configured: not subtracted");
}

#[test]
fn claude_code_api_request_events_are_read_with_their_reported_cost() {
    let c = from_api_request(&api_request(
        "claude-sonnet-4-5-20250929",
        [1_000, 500, 30, 40],
        0.0105,
    ))
    .unwrap();
    assert_eq!(
        c.tokens,
        Tokens {
            input: 1_000,
            output: 500,
            cache_read: 30,
            cache_creation: 40
        },
        "Claude Code's input_tokens already exclude cache"
    );
    assert_eq!(c.reported_cost_usd, Some(0.0105));
    assert_eq!(c.session.as_deref(), Some("sess-1"));
    // Named only by the `event.name` attribute, with string values (older SDKs).
    let mut record = api_request("claude-haiku-4-5", [1, 2, 3, 4], 0.0);
    record.event_name.clear();
    record.attributes.retain(|kv| kv.key != "cost_usd");
    record
        .attributes
        .extend(attrs(&[("cost_usd_micros", V::S("1234"))]));
    let c = from_api_request(&record).unwrap();
    assert_eq!(c.reported_cost_usd, Some(0.001234));
    // Named only by the body, with `event.name` the short form.
    let mut by_body = api_request("claude-haiku-4-5", [1, 2, 3, 4], 0.0);
    by_body.event_name.clear();
    by_body.attributes[0] = attrs(&[("event.name", V::S("api_request"))]).remove(0);
    by_body.body = Some(AnyValue {
        value: Some(any_value::Value::StringValue(
            "claude_code.api_request".into(),
        )),
    });
    assert!(from_api_request(&by_body).is_some());
    by_body.body = None;
    assert!(
        from_api_request(&by_body).is_none(),
        "`api_request` alone is too generic"
    );
    // Other events are not calls.
    let mut other = api_request("claude-haiku-4-5", [1, 2, 3, 4], 0.0);
    other.event_name = "claude_code.tool_result".into();
    other.attributes[0] = attrs(&[("event.name", V::S("claude_code.tool_result"))]).remove(0);
    assert!(from_api_request(&other).is_none());
}
