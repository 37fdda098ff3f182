use sentinel_pipeline::otlp::common::v1::any_value::Value as AttrValue;
use sentinel_pipeline::{Kind, Message, Payload, Processor, SelfMetrics};

use super::*;
use crate::llm_cost::prices::PriceTable;
use crate::llm_cost::processor::UNPRICED_ATTRIBUTE;
use crate::llm_cost::usage::SpanInput;
use crate::llm_cost::{LlmCostProcessor, Pricer, COST_ATTRIBUTE};

fn processor() -> LlmCostProcessor {
    let metrics = SelfMetrics::new();
    let pricer = Pricer::new(PriceTable::shipped(), Kind::Processor, "llm_cost", &metrics);
    LlmCostProcessor::new(pricer, SpanInput::IncludesCache)
}

fn run(p: &mut LlmCostProcessor, payload: Payload) -> Payload {
    let mut out = Vec::new();
    p.process(Message::unacked(payload), &mut out);
    assert_eq!(out.len(), 1, "nothing is held or dropped");
    out.pop().unwrap().payload
}

#[test]
fn priced_spans_get_their_cost_and_unpriced_ones_get_none() {
    let mut p = processor();
    let sonnet = span(attrs(&[
        ("gen_ai.request.model", V::S("claude-sonnet-4-5")),
        ("gen_ai.usage.input_tokens", V::I(1_000)),
        ("gen_ai.usage.output_tokens", V::I(500)),
        (COST_ATTRIBUTE, V::D(99.0)),
    ]));
    let unknown = span(attrs(&[
        ("gen_ai.request.model", V::S("mystery-model")),
        ("gen_ai.usage.input_tokens", V::I(1_000)),
    ]));
    let plain = span(attrs(&[("http.route", V::S("/"))]));
    let Payload::Traces(req) = run(&mut p, traces("shop", vec![sonnet, unknown, plain])) else {
        panic!()
    };
    let spans = &req.resource_spans[0].scope_spans[0].spans;
    assert_eq!(
        attr(&spans[0].attributes, COST_ATTRIBUTE),
        Some(&AttrValue::DoubleValue(0.0105)),
        "computed, replacing what was there"
    );
    assert_eq!(
        spans[0]
            .attributes
            .iter()
            .filter(|kv| kv.key == COST_ATTRIBUTE)
            .count(),
        1
    );
    assert_eq!(attr(&spans[1].attributes, COST_ATTRIBUTE), None, "never $0");
    assert_eq!(
        attr(&spans[1].attributes, UNPRICED_ATTRIBUTE),
        Some(&AttrValue::BoolValue(true)),
        "marked, so a connector downstream does not count it again"
    );
    assert_eq!(spans[2].attributes.len(), 1, "other spans are untouched");
}

#[test]
fn claude_code_api_request_records_get_their_cost() {
    let mut p = processor();
    let record = api_request("claude-haiku-4-5-20251001", [2_000, 1_000, 0, 0], 0.007);
    let mut other = record.clone();
    other.event_name = "claude_code.user_prompt".into();
    other.attributes.clear();
    let Payload::Logs(req) = run(&mut p, logs("claude-code", vec![record, other])) else {
        panic!()
    };
    let records = &req.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(
        attr(&records[0].attributes, COST_ATTRIBUTE),
        Some(&AttrValue::DoubleValue(0.007))
    );
    assert!(records[1].attributes.is_empty());
}

#[test]
fn each_unknown_model_is_warned_about_once_and_every_call_is_counted() {
    let metrics = SelfMetrics::new();
    let pricer = Pricer::new(
        PriceTable::shipped(),
        Kind::Processor,
        "llm_cost/p",
        &metrics,
    );
    let call = |model: &str| crate::llm_cost::usage::LlmCall {
        model: model.into(),
        request_model: model.into(),
        provider: None,
        session: None,
        tokens: Default::default(),
        time_unix_nano: 1,
        reported_cost_usd: None,
        priced_upstream: false,
    };
    for model in ["a-model", "a-model", "b-model", "a-model"] {
        assert_eq!(
            pricer.price(&call(model)),
            crate::llm_cost::Outcome::Unpriced { provider: None }
        );
    }
    assert_eq!(pricer.warned_models(), 2);
    assert!(metrics.encode().contains(
        "sentinel_llm_unpriced_calls_total{component_kind=\"processor\",component_id=\"llm_cost/p\"} 4\n"
    ));
}

#[test]
fn a_call_the_processor_priced_is_not_counted_again_by_the_connector() {
    let metrics = SelfMetrics::new();
    let pricer = |kind| Pricer::new(PriceTable::shipped(), kind, "llm_cost", &metrics);
    let mut p = LlmCostProcessor::new(pricer(Kind::Processor), SpanInput::IncludesCache);
    let connector = pricer(Kind::Connector);
    let unknown = span(attrs(&[
        ("gen_ai.request.model", V::S("mystery-model")),
        ("gen_ai.usage.input_tokens", V::I(1_000)),
    ]));
    let Payload::Traces(req) = run(&mut p, traces("shop", vec![unknown])) else {
        panic!()
    };
    let marked = &req.resource_spans[0].scope_spans[0].spans[0];
    let call = crate::llm_cost::usage::from_span(marked, SpanInput::IncludesCache).unwrap();
    assert!(call.priced_upstream);
    assert!(matches!(
        connector.price(&call),
        crate::llm_cost::Outcome::Unpriced { .. }
    ));
    assert_eq!(
        connector.warned_models(),
        0,
        "warned about once, by the processor"
    );
    let text = metrics.encode();
    let counted: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sentinel_llm_unpriced_calls_total"))
        .collect();
    assert!(
        counted
            .iter()
            .any(|l| l.contains("processor") && l.ends_with(" 1")),
        "{counted:?}"
    );
    assert!(
        !counted
            .iter()
            .any(|l| l.contains("connector") && l.ends_with(" 1")),
        "counted once: {counted:?}"
    );
}
