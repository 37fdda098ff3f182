//! The `llm_cost` processor: writes `sentinel.llm.cost_usd` onto priced GenAI spans and
//! Claude Code `claude_code.api_request` log records, so traces and logs carry the cost.

use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Payload,
    Processor, ProcessorFactory, Signal,
};

use super::config::{span_input, LlmCostProcessorConfig};
use super::pricer::{Outcome, Pricer};
use super::prices::{femto_to_usd, PriceTable};
use super::usage::{self, LlmCall, SpanInput};

/// The attribute the processor sets: the call's cost in USD.
pub use super::usage::{COST_ATTRIBUTE, UNPRICED_ATTRIBUTE};

const SIGNALS: [Signal; 2] = [Signal::Traces, Signal::Logs];

pub struct LlmCostProcessorFactory;

impl Factory for LlmCostProcessorFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "llm_cost",
            kind: Kind::Processor,
            signals: &SIGNALS,
            description:
                "Adds sentinel.llm.cost_usd to GenAI spans and Claude Code api_request events",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<LlmCostProcessorConfig>(node)
    }
}

impl ProcessorFactory for LlmCostProcessorFactory {
    fn build(
        &self,
        node: &Node,
        _signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: LlmCostProcessorConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let table = PriceTable::load(config.prices.as_deref(), config.litellm_prices.as_deref())
            .map_err(|e| BuildError::Other {
                component: ctx.id.clone(),
                message: e.to_string(),
            })?;
        Ok(BuiltProcessor {
            stage: Box::new(LlmCostProcessor {
                pricer: Pricer::new(table, Kind::Processor, &ctx.id, &ctx.metrics),
                span_input: span_input(config.span_input_includes_cache),
            }),
            admission_budget: None,
        })
    }
}

pub struct LlmCostProcessor {
    pricer: Pricer,
    span_input: SpanInput,
}

impl LlmCostProcessor {
    pub fn new(pricer: Pricer, span_input: SpanInput) -> Self {
        LlmCostProcessor { pricer, span_input }
    }

    fn annotate(&self, call: Option<LlmCall>, attributes: &mut Vec<KeyValue>) {
        let Some(call) = call else { return };
        // Unpriced calls are counted and warned about by the pricer and marked, never
        // written as $0; the mark keeps an `llm_cost` connector downstream from counting
        // them again.
        let (key, stale, value) = match self.pricer.price(&call) {
            Outcome::Priced { femto_usd, .. } => (
                COST_ATTRIBUTE,
                UNPRICED_ATTRIBUTE,
                any_value::Value::DoubleValue(femto_to_usd(femto_usd)),
            ),
            Outcome::Unpriced { .. } => (
                UNPRICED_ATTRIBUTE,
                COST_ATTRIBUTE,
                any_value::Value::BoolValue(true),
            ),
        };
        attributes.retain(|kv| kv.key != stale);
        let value = Some(AnyValue { value: Some(value) });
        match attributes.iter_mut().find(|kv| kv.key == key) {
            Some(existing) => existing.value = value,
            None => attributes.push(KeyValue {
                key: key.into(),
                value,
                ..Default::default()
            }),
        }
    }
}

impl Processor for LlmCostProcessor {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        match &mut msg.payload {
            Payload::Traces(req) => visit::for_each_item_mut(req, |_, _, span| {
                let call = usage::from_span(span, self.span_input);
                self.annotate(call, &mut span.attributes);
            }),
            Payload::Logs(req) => visit::for_each_item_mut(req, |_, _, record| {
                let call = usage::from_api_request(record);
                self.annotate(call, &mut record.attributes);
            }),
            Payload::Metrics(_) => {}
        }
        out.push(msg);
    }
}
