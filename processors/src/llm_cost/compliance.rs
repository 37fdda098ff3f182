//! Both `llm_cost` components against their kinds' contracts, with priced and unpriced
//! LLM calls among plain data.

use sentinel_pipeline::otlp::common::v1::any_value::Value as AttrValue;
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::number_data_point::Value;
use sentinel_pipeline::testing::{ConnectorCompliance, ProcessorCompliance};
use sentinel_pipeline::{Payload, Signal};

use super::tests::{api_request, attr, attrs, logs, span, traces, V};
use super::{LlmCostConnectorFactory, LlmCostProcessorFactory, COST_ATTRIBUTE};

/// 1,000 input and 500 output tokens of claude-sonnet-4-5: $0.0105.
fn sonnet() -> sentinel_pipeline::otlp::trace::v1::Span {
    span(attrs(&[
        ("gen_ai.provider.name", V::S("anthropic")),
        ("gen_ai.request.model", V::S("claude-sonnet-4-5")),
        ("gen_ai.usage.input_tokens", V::I(1_000)),
        ("gen_ai.usage.output_tokens", V::I(500)),
    ]))
}

fn unknown_model() -> sentinel_pipeline::otlp::trace::v1::Span {
    span(attrs(&[
        ("gen_ai.request.model", V::S("mystery-model")),
        ("gen_ai.usage.input_tokens", V::I(100)),
    ]))
}

fn plain() -> sentinel_pipeline::otlp::trace::v1::Span {
    span(attrs(&[("http.route", V::S("/cart"))]))
}

/// Two requests of five spans: three priced, one unpriced, one without an LLM call.
fn span_requests() -> Vec<Payload> {
    vec![
        traces("shop", vec![sonnet(), unknown_model(), plain()]),
        traces("shop", vec![sonnet(), sonnet()]),
    ]
}

/// Two requests: two priced `api_request` events and one other event.
fn log_requests() -> Vec<Payload> {
    let haiku = || api_request("claude-haiku-4-5-20251001", [2_000, 1_000, 0, 0], 0.007);
    let mut prompt = haiku();
    prompt.event_name = "claude_code.user_prompt".into();
    prompt.attributes.clear();
    vec![
        logs("claude-code", vec![haiku(), prompt]),
        logs("claude-code", vec![haiku()]),
    ]
}

/// The cost attribute of every span or log record, in order.
fn costs(payloads: &[Payload]) -> Vec<Option<f64>> {
    let cost = |attributes: &[KeyValue]| match attr(attributes, COST_ATTRIBUTE) {
        Some(AttrValue::DoubleValue(usd)) => Some(*usd),
        None => None,
        Some(other) => panic!("the cost is a double: {other:?}"),
    };
    let mut out = Vec::new();
    for payload in payloads {
        match payload {
            Payload::Traces(req) => req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .for_each(|s| out.push(cost(&s.attributes))),
            Payload::Logs(req) => req
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .for_each(|r| out.push(cost(&r.attributes))),
            Payload::Metrics(_) => panic!("llm_cost takes no metrics"),
        }
    }
    out
}

#[tokio::test]
async fn llm_cost_processor_meets_the_contract_and_prices_spans() {
    let report = ProcessorCompliance::new(&LlmCostProcessorFactory, "", Signal::Traces)
        .input(span_requests())
        .expect_sent(5)
        .run()
        .await;
    let priced = Some(0.0105);
    assert_eq!(
        costs(&report.delivered),
        [priced, None, None, priced, priced],
        "unpriced and plain spans get no cost, never $0"
    );
}

#[tokio::test]
async fn llm_cost_processor_meets_the_contract_and_prices_api_requests() {
    let report = ProcessorCompliance::new(&LlmCostProcessorFactory, "", Signal::Logs)
        .input(log_requests())
        .expect_sent(3)
        .run()
        .await;
    assert_eq!(costs(&report.delivered), [Some(0.007), None, Some(0.007)]);
}

/// (metric, token type if any, value) of every point, in order.
fn points(payloads: &[Payload]) -> Vec<(String, Option<String>, f64)> {
    let mut out = Vec::new();
    for payload in payloads {
        let Payload::Metrics(req) = payload else {
            panic!("llm_cost emits metrics")
        };
        for metric in req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            let Some(Data::Sum(sum)) = &metric.data else {
                panic!("{}: a sum", metric.name)
            };
            for point in &sum.data_points {
                let token_type = match attr(&point.attributes, "gen_ai.token.type") {
                    Some(AttrValue::StringValue(t)) => Some(t.clone()),
                    _ => None,
                };
                let value = match point.value {
                    Some(Value::AsDouble(d)) => d,
                    Some(Value::AsInt(i)) => i as f64,
                    None => panic!("a value"),
                };
                out.push((metric.name.clone(), token_type, value));
            }
        }
    }
    out
}

fn point(metric: &str, token_type: Option<&str>, value: f64) -> (String, Option<String>, f64) {
    (metric.into(), token_type.map(Into::into), value)
}

#[tokio::test]
async fn llm_cost_connector_meets_the_contract_for_spans() {
    let report = ConnectorCompliance::new(&LlmCostConnectorFactory, "", Signal::Traces)
        .input(span_requests())
        .expect_sent(8)
        .run()
        .await;
    let delivered = &report.delivered[&Signal::Metrics];
    assert_eq!(delivered.len(), 2, "one metrics request per input request");
    let mut got = points(delivered);
    // The unpriced call's series comes first or last depending on its labels: compare
    // as sets.
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut want = vec![
        // Request 1: sonnet priced; mystery-model unpriced but its tokens count.
        point("sentinel.llm.cost", None, 0.0105),
        point("sentinel.llm.tokens", Some("input"), 1_000.0),
        point("sentinel.llm.tokens", Some("output"), 500.0),
        point("sentinel.llm.tokens", Some("input"), 100.0),
        point("sentinel.llm.unpriced", None, 1.0),
        // Request 2: two sonnet calls of one series, summed.
        point("sentinel.llm.cost", None, 0.021),
        point("sentinel.llm.tokens", Some("input"), 2_000.0),
        point("sentinel.llm.tokens", Some("output"), 1_000.0),
    ];
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, want);
}

#[tokio::test]
async fn llm_cost_connector_meets_the_contract_for_api_requests() {
    let report = ConnectorCompliance::new(&LlmCostConnectorFactory, "", Signal::Logs)
        .input(log_requests())
        .expect_sent(6)
        .run()
        .await;
    let got = points(&report.delivered[&Signal::Metrics]);
    let haiku = [
        point("sentinel.llm.cost", None, 0.007),
        point("sentinel.llm.tokens", Some("input"), 2_000.0),
        point("sentinel.llm.tokens", Some("output"), 1_000.0),
    ];
    assert_eq!(got, [haiku.clone(), haiku].concat());
}

#[tokio::test]
async fn llm_cost_connector_emits_nothing_for_data_without_llm_calls() {
    // Plain spans: received and acknowledged, nothing to derive, nothing refused.
    let report = ConnectorCompliance::new(&LlmCostConnectorFactory, "", Signal::Traces)
        .expect_sent(0)
        .run()
        .await;
    assert!(report.delivered[&Signal::Metrics].is_empty());
}
