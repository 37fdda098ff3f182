use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::config::{Node, Span as ConfigSpan};
use sentinel_pipeline::otlp::common::v1::any_value::Value as AttrValue;
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::number_data_point::Value;
use sentinel_pipeline::otlp::metrics::v1::AggregationTemporality;
use sentinel_pipeline::testing::component_counts;
use sentinel_pipeline::{
    BuildContext, Connector, ConnectorFactory, Kind, Message, Payload, SelfMetrics, Signal,
};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::forward::tests_support::{outputs, Recorder};
use crate::llm_cost::prices::PriceTable;
use crate::llm_cost::{LlmCostConfig, LlmCostConnector, LlmCostConnectorFactory};

fn ctx(metrics: &Arc<SelfMetrics>) -> BuildContext {
    BuildContext {
        id: "llm_cost".into(),
        metrics: metrics.clone(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    }
}

/// (metric, unit, attributes as text, value) of every point, in order.
type Point = (String, String, Vec<(String, String)>, f64);

fn points(payload: &Payload) -> Vec<Point> {
    let Payload::Metrics(req) = payload else {
        panic!("llm_cost emits metrics")
    };
    let mut out = Vec::new();
    for metric in req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let Some(Data::Sum(sum)) = &metric.data else {
            panic!("a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        for p in &sum.data_points {
            let attributes = p
                .attributes
                .iter()
                .map(|kv| {
                    let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(AttrValue::StringValue(s)) => s.clone(),
                        Some(AttrValue::BoolValue(b)) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (kv.key.clone(), value)
                })
                .collect();
            let value = match p.value {
                Some(Value::AsDouble(d)) => d,
                Some(Value::AsInt(i)) => i as f64,
                None => panic!("a value"),
            };
            out.push((metric.name.clone(), metric.unit.clone(), attributes, value));
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sonnet_span(session: &'static str) -> sentinel_pipeline::otlp::trace::v1::Span {
    span(attrs(&[
        ("gen_ai.provider.name", V::S("anthropic")),
        ("gen_ai.request.model", V::S("claude-sonnet-4-5")),
        ("gen_ai.response.model", V::S("claude-sonnet-4-5-20250929")),
        ("gen_ai.usage.input_tokens", V::I(1_000)),
        ("gen_ai.usage.output_tokens", V::I(500)),
        ("session.id", V::S(session)),
    ]))
}

#[test]
fn genai_spans_become_exact_cost_and_token_sums() {
    let metrics = SelfMetrics::new();
    let node = Node::empty_map(ConfigSpan::unknown());
    let connector = LlmCostConnectorFactory.build(&node, ctx(&metrics)).unwrap();
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    let unrelated = span(attrs(&[("http.route", V::S("/cart"))]));
    connector
        .consume(
            Message::unacked(traces(
                "shop",
                vec![sonnet_span("s1"), sonnet_span("s1"), unrelated],
            )),
            &out,
        )
        .unwrap();
    let seen = recorder.seen.lock().unwrap();
    let base = [
        ("gen_ai.provider.name", "anthropic"),
        ("gen_ai.request.model", "claude-sonnet-4-5"),
        ("service.name", "shop"),
        ("session.id", "s1"),
    ];
    let with_type = |t: &'static str| {
        let mut l = base.to_vec();
        l.push(("gen_ai.token.type", t));
        labels(&l)
    };
    assert_eq!(
        points(&seen[0].payload),
        vec![
            (
                "sentinel.llm.cost".into(),
                "USD".into(),
                labels(&base),
                0.021
            ),
            (
                "sentinel.llm.tokens".into(),
                "{token}".into(),
                with_type("input"),
                2_000.0
            ),
            (
                "sentinel.llm.tokens".into(),
                "{token}".into(),
                with_type("output"),
                1_000.0
            ),
        ],
        "two identical calls are summed into one point per series"
    );
    let Payload::Metrics(req) = &seen[0].payload else {
        panic!()
    };
    assert_eq!(
        attr(
            &req.resource_metrics[0]
                .resource
                .as_ref()
                .unwrap()
                .attributes,
            "service.name"
        ),
        Some(&AttrValue::StringValue("shop".into())),
        "the resource is kept"
    );
    let counts = component_counts(&metrics, Kind::Connector, "llm_cost", Signal::Traces);
    assert_eq!((counts.received, counts.sent, counts.refused), (3, 3, 0));
    component_counts(&metrics, Kind::Connector, "llm_cost", Signal::Logs);
}

#[test]
fn claude_code_events_are_priced_and_checked_against_their_cost_usd() {
    let metrics = SelfMetrics::new();
    let connector = LlmCostConnector::new(
        LlmCostConfig::default(),
        PriceTable::shipped(),
        &ctx(&metrics),
    );
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    let records = vec![
        // Agrees with us: 1,000 × $3 + 500 × $15 per million.
        api_request("claude-sonnet-4-5-20250929", [1_000, 500, 0, 0], 0.0105),
        // Within 1%: not a mismatch.
        api_request("claude-sonnet-4-5-20250929", [1_000, 500, 0, 0], 0.0106),
        // Claude Code says $0.02: a mismatch.
        api_request("claude-sonnet-4-5-20250929", [1_000, 500, 0, 0], 0.02),
        // Cache tokens: 10,000 × $0.30 + 1,000 × $3.75 per million = $0.00675.
        api_request("claude-sonnet-4-5-20250929", [0, 0, 10_000, 1_000], 0.00675),
    ];
    connector
        .consume(Message::unacked(logs("claude-code", records)), &out)
        .unwrap();
    let seen = recorder.seen.lock().unwrap();
    let got = points(&seen[0].payload);
    let cost: Vec<_> = got.iter().filter(|p| p.0 == "sentinel.llm.cost").collect();
    assert_eq!(cost.len(), 1);
    assert_eq!(
        cost[0].2,
        labels(&[
            ("gen_ai.provider.name", "anthropic"),
            ("gen_ai.request.model", "claude-sonnet-4-5-20250929"),
            ("service.name", "claude-code"),
            ("session.id", "sess-1"),
        ]),
        "the provider comes from the price table"
    );
    assert!(
        (cost[0].3 - (0.0105 * 3.0 + 0.00675)).abs() < 1e-12,
        "{}",
        cost[0].3
    );
    let tokens = |t: &str| {
        got.iter()
            .find(|p| {
                p.0 == "sentinel.llm.tokens"
                    && p.2.contains(&("gen_ai.token.type".into(), t.into()))
            })
            .map(|p| p.3)
    };
    assert_eq!(tokens("input"), Some(3_000.0));
    assert_eq!(tokens("output"), Some(1_500.0));
    assert_eq!(tokens("cache_read"), Some(10_000.0));
    assert_eq!(tokens("cache_creation"), Some(1_000.0));
    let exposition = metrics.encode();
    assert!(
        exposition.contains(
            "sentinel_llm_cost_mismatch_total{component_kind=\"connector\",component_id=\"llm_cost\",model=\"claude-sonnet-4-5\"} 1\n"
        ),
        "{exposition}"
    );
    let counts = component_counts(&metrics, Kind::Connector, "llm_cost", Signal::Logs);
    assert_eq!((counts.received, counts.sent), (4, 5));
}

#[test]
fn unknown_models_are_counted_as_unpriced_never_as_zero_cost() {
    let metrics = SelfMetrics::new();
    let connector = LlmCostConnector::new(
        LlmCostConfig::default(),
        PriceTable::shipped(),
        &ctx(&metrics),
    );
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    let llama = || {
        span(attrs(&[
            ("gen_ai.request.model", V::S("llama-3-70b")),
            ("gen_ai.usage.input_tokens", V::I(100)),
            ("gen_ai.usage.output_tokens", V::I(7)),
        ]))
    };
    for _ in 0..2 {
        connector
            .consume(
                Message::unacked(traces("rag", vec![llama(), llama()])),
                &out,
            )
            .unwrap();
    }
    let seen = recorder.seen.lock().unwrap();
    let got = points(&seen[1].payload);
    assert!(got.iter().all(|p| p.0 != "sentinel.llm.cost"), "{got:?}");
    let model = labels(&[
        ("gen_ai.request.model", "llama-3-70b"),
        ("service.name", "rag"),
    ]);
    assert!(
        got.contains(&("sentinel.llm.unpriced".into(), "{call}".into(), model, 2.0)),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|p| p.0 == "sentinel.llm.tokens" && p.3 == 200.0),
        "tokens still count"
    );
    let exposition = metrics.encode();
    assert!(
        exposition.contains("sentinel_llm_unpriced_calls_total{component_kind=\"connector\",component_id=\"llm_cost\"} 4\n"),
        "{exposition}"
    );
}

#[test]
fn series_past_the_cap_fold_into_one_overflow_series_and_are_counted() {
    let metrics = SelfMetrics::new();
    let config = LlmCostConfig {
        max_series: 2,
        series_idle: Duration::from_secs(3600),
        ..LlmCostConfig::default()
    };
    let connector = LlmCostConnector::new(config, PriceTable::shipped(), &ctx(&metrics));
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    let spans = vec![
        sonnet_span("a"),
        sonnet_span("b"),
        sonnet_span("c"),
        sonnet_span("d"),
    ];
    connector
        .consume(Message::unacked(traces("shop", spans)), &out)
        .unwrap();
    let seen = recorder.seen.lock().unwrap();
    let cost: Vec<_> = points(&seen[0].payload)
        .into_iter()
        .filter(|p| p.0 == "sentinel.llm.cost")
        .collect();
    assert_eq!(cost.len(), 3, "two sessions plus the overflow series");
    let overflow = cost
        .iter()
        .find(|p| p.2 == labels(&[("otel.metric.overflow", "true")]))
        .expect("overflow series");
    assert_eq!(overflow.3, 0.021, "no cost is lost, only its attributes");
    let total: f64 = cost.iter().map(|p| p.3).sum();
    assert!((total - 0.042).abs() < 1e-12);
    assert!(
        metrics
            .encode()
            .contains("sentinel_llm_series_overflow_total{component_kind=\"connector\",component_id=\"llm_cost\"} 2\n"),
        "{}",
        metrics.encode()
    );
}

#[test]
fn a_full_downstream_refuses_and_is_counted() {
    let metrics = SelfMetrics::new();
    let connector = LlmCostConnector::new(
        LlmCostConfig::default(),
        PriceTable::shipped(),
        &ctx(&metrics),
    );
    let recorder = Arc::new(Recorder {
        refuse: true,
        ..Default::default()
    });
    let out = outputs(Signal::Metrics, recorder);
    let result = connector.consume(
        Message::unacked(traces("shop", vec![sonnet_span("a")])),
        &out,
    );
    assert!(
        result.is_err(),
        "the refusal reaches the receiver so the client retries"
    );
    let counts = component_counts(&metrics, Kind::Connector, "llm_cost", Signal::Traces);
    assert_eq!((counts.received, counts.sent, counts.refused), (1, 0, 1));
}
