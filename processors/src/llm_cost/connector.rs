//! The `llm_cost` connector: LLM calls from traces and logs pipelines become cost, token
//! and unpriced-call metrics for metrics pipelines.
//!
//! The sums are **delta** temporality, one point per attribute set per incoming message:
//! the connector keeps no running totals, so a restart loses nothing and never resets a
//! counter, and its memory is only the bounded set of series it has seen. The `prometheus`
//! exporter (and any delta-aware backend) adds the deltas into totals.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, ComponentMetrics, Connector, ConnectorFactory,
    Factory, Kind, Message, Outputs, Payload, Refusal, Signal,
};

use super::config::{span_input, LlmCostConfig};
use super::pricer::{Outcome, Pricer};
use super::prices::{femto_to_usd, PriceTable};
use super::usage::{self, LlmCall, SpanInput};

const INPUTS: [Signal; 2] = [Signal::Traces, Signal::Logs];
const TOKEN_TYPES: [&str; 4] = ["input", "output", "cache_read", "cache_creation"];

pub struct LlmCostConnectorFactory;

impl Factory for LlmCostConnectorFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "llm_cost",
            kind: Kind::Connector,
            signals: &INPUTS,
            description: "Prices LLM calls (GenAI spans, Claude Code api_request events) into cost and token metrics",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<LlmCostConfig>(node)
    }
}

impl ConnectorFactory for LlmCostConnectorFactory {
    fn input_signals(&self) -> &'static [Signal] {
        &INPUTS
    }

    fn output_signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        let config: LlmCostConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let table = PriceTable::load(config.prices.as_deref(), config.litellm_prices.as_deref())
            .map_err(|e| BuildError::Other {
                component: ctx.id.clone(),
                message: e.to_string(),
            })?;
        Ok(Arc::new(LlmCostConnector::new(config, table, &ctx)))
    }
}

pub struct LlmCostConnector {
    pricer: Pricer,
    span_input: SpanInput,
    metrics: BTreeMap<Signal, ComponentMetrics>,
    series: Mutex<SeriesLimiter>,
    overflow: Counter<u64, AtomicU64>,
}

impl LlmCostConnector {
    pub fn new(config: LlmCostConfig, table: PriceTable, ctx: &BuildContext) -> Self {
        let pricer = Pricer::new(table, Kind::Connector, &ctx.id, &ctx.metrics);
        let overflow = pricer.overflow_counter();
        LlmCostConnector {
            pricer,
            span_input: span_input(config.span_input_includes_cache),
            metrics: INPUTS
                .into_iter()
                .map(|s| (s, ctx.component_metrics(Kind::Connector, s)))
                .collect(),
            series: Mutex::new(SeriesLimiter {
                seen: HashMap::new(),
                max: config.max_series,
                idle: config.series_idle,
            }),
            overflow,
        }
    }

    /// The calls in a payload, by resource; resources without calls are left out.
    fn calls(&self, payload: &Payload) -> Vec<(Option<Resource>, Vec<LlmCall>)> {
        match payload {
            Payload::Traces(req) => {
                calls_by_resource(req.groups(), |span| usage::from_span(span, self.span_input))
            }
            Payload::Logs(req) => calls_by_resource(req.groups(), usage::from_api_request),
            Payload::Metrics(_) => Vec::new(),
        }
    }

    /// Sums the calls of one resource per attribute set.
    fn aggregate(
        &self,
        resource: Option<&Resource>,
        calls: &[LlmCall],
    ) -> BTreeMap<Series, Totals> {
        let service = resource
            .and_then(|r| usage::text(&r.attributes, &["service.name"]))
            .map(str::to_string);
        let now = Instant::now();
        let mut limiter = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: BTreeMap<Series, Totals> = BTreeMap::new();
        for call in calls {
            let outcome = self.pricer.price(call);
            let provider = match &outcome {
                Outcome::Priced { provider, .. } | Outcome::Unpriced { provider } => provider,
            };
            let mut labels = vec![("gen_ai.request.model", call.request_model.clone())];
            let known = [
                ("gen_ai.provider.name", provider.clone()),
                ("service.name", service.clone()),
                ("session.id", call.session.clone()),
            ];
            labels.extend(known.into_iter().filter_map(|(k, v)| Some((k, v?))));
            labels.sort();
            let series = if limiter.admit(&labels, now) {
                Series::Labels(labels)
            } else {
                self.overflow.inc();
                Series::Overflow
            };
            let totals = out.entry(series).or_default();
            let t = &call.tokens;
            for (slot, count) in
                totals
                    .tokens
                    .iter_mut()
                    .zip([t.input, t.output, t.cache_read, t.cache_creation])
            {
                *slot += count;
            }
            match outcome {
                Outcome::Priced { femto_usd, .. } => {
                    totals.femto_usd += femto_usd;
                    totals.priced += 1;
                }
                Outcome::Unpriced { .. } => totals.unpriced += 1,
            }
        }
        out
    }
}

impl Connector for LlmCostConnector {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let signal = msg.payload.signal();
        let Some(metrics) = self.metrics.get(&signal) else {
            return Ok(()); // the validator only wires traces and logs here
        };
        let items = msg.payload.item_count();
        metrics.received(items);
        let resource_metrics: Vec<ResourceMetrics> = self
            .calls(&msg.payload)
            .into_iter()
            .map(|(resource, calls)| {
                let totals = self.aggregate(resource.as_ref(), &calls);
                to_resource_metrics(resource, totals)
            })
            .collect();
        let Some(output) = outputs.get(&Signal::Metrics) else {
            return Ok(());
        };
        if resource_metrics.is_empty() {
            return Ok(()); // no LLM calls: nothing to emit; the acks resolve on drop
        }
        // The metrics carry the upstream acks: the client is answered once they are queued.
        let derived = Message::new(
            Payload::Metrics(ExportMetricsServiceRequest { resource_metrics }),
            msg.acks,
        );
        let emitted = derived.payload.item_count();
        match output.send(derived) {
            Ok(()) => {
                metrics.sent(emitted);
                Ok(())
            }
            Err(refusal) => {
                metrics.refused(items);
                Err(refusal)
            }
        }
    }
}

/// The calls `call_of` finds among each resource's items.
fn calls_by_resource<R: ResourceGroup>(
    groups: &[R],
    call_of: impl Fn(&R::Item) -> Option<LlmCall>,
) -> Vec<(Option<Resource>, Vec<LlmCall>)> {
    groups
        .iter()
        .filter_map(|group| {
            let calls: Vec<LlmCall> = group
                .items()
                .filter_map(|(_, item)| call_of(item))
                .collect();
            (!calls.is_empty()).then(|| (group.resource().cloned(), calls))
        })
        .collect()
}

/// Keeps the number of attribute sets bounded; idle ones are forgotten when space is
/// needed.
struct SeriesLimiter {
    seen: HashMap<Vec<(&'static str, String)>, Instant>,
    max: usize,
    idle: Duration,
}

impl SeriesLimiter {
    fn admit(&mut self, labels: &[(&'static str, String)], now: Instant) -> bool {
        if let Some(last) = self.seen.get_mut(labels) {
            *last = now;
            return true;
        }
        if self.seen.len() >= self.max {
            let idle = self.idle;
            self.seen.retain(|_, last| now.duration_since(*last) < idle);
        }
        if self.seen.len() >= self.max {
            return false;
        }
        self.seen.insert(labels.to_vec(), now);
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Series {
    Labels(Vec<(&'static str, String)>),
    /// Past the series cap: `otel.metric.overflow=true`, like the OpenTelemetry SDKs.
    Overflow,
}

#[derive(Debug, Default)]
struct Totals {
    femto_usd: u128,
    priced: u64,
    unpriced: u64,
    tokens: [u64; 4],
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn attributes(series: &Series) -> Vec<KeyValue> {
    match series {
        Series::Labels(labels) => labels.iter().map(|(k, v)| string_kv(k, v)).collect(),
        Series::Overflow => vec![KeyValue {
            key: "otel.metric.overflow".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::BoolValue(true)),
            }),
            ..Default::default()
        }],
    }
}

fn delta_sum(name: &str, description: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn to_resource_metrics(
    resource: Option<Resource>,
    totals: BTreeMap<Series, Totals>,
) -> ResourceMetrics {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let point = |attributes: Vec<KeyValue>, value: number_data_point::Value| NumberDataPoint {
        attributes,
        start_time_unix_nano: now,
        time_unix_nano: now,
        value: Some(value),
        ..Default::default()
    };
    let (mut cost, mut tokens, mut unpriced) = (Vec::new(), Vec::new(), Vec::new());
    for (series, t) in &totals {
        let attrs = attributes(series);
        if t.priced > 0 {
            let usd = femto_to_usd(t.femto_usd);
            cost.push(point(
                attrs.clone(),
                number_data_point::Value::AsDouble(usd),
            ));
        }
        for (kind, count) in TOKEN_TYPES.iter().zip(t.tokens) {
            if count > 0 {
                let mut a = attrs.clone();
                a.push(string_kv("gen_ai.token.type", kind));
                tokens.push(point(a, number_data_point::Value::AsInt(count as i64)));
            }
        }
        if t.unpriced > 0 {
            let n = t.unpriced as i64;
            unpriced.push(point(attrs, number_data_point::Value::AsInt(n)));
        }
    }
    let metrics = [
        (
            "sentinel.llm.cost",
            "Cost of LLM calls computed from the price table",
            "USD",
            cost,
        ),
        (
            "sentinel.llm.tokens",
            "Tokens of LLM calls by gen_ai.token.type (input excludes cache reads and writes)",
            "{token}",
            tokens,
        ),
        (
            "sentinel.llm.unpriced",
            "LLM calls whose model has no price in the table (not counted as $0)",
            "{call}",
            unpriced,
        ),
    ]
    .into_iter()
    .filter(|(_, _, _, points)| !points.is_empty())
    .map(|(name, description, unit, points)| delta_sum(name, description, unit, points))
    .collect();
    ResourceMetrics {
        resource,
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "sentinel/connector/llm_cost".into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}
