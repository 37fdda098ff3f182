//! `memory_limiter` processor: a byte budget charged by everything that feeds the
//! pipeline. The otlp and hooks receivers charge a request's size before decoding it;
//! scrapers and connectors are charged the encoded size of what they hand on
//! (`Output::send`). At the limit, data is refused with a retryable error
//! (RESOURCE_EXHAUSTED / HTTP 429); nothing already accepted is dropped. The charge is
//! released once every exporter queue took the data. The stage itself passes data through.

#[cfg(test)]
mod compliance;

use std::time::Duration;

use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::config::{
    check, decode_valid, ComponentConfig, Diagnostic, Node, ValidationError,
};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Processor,
    ProcessorFactory, Signal, Unchanged,
};
use serde::{Deserialize, Serialize};

/// `memory_limiter`: bounds the bytes of requests in flight in a pipeline, from arrival
/// until every exporter queue has accepted them. The budget is exact, so unlike the
/// Collector there is no garbage collector to tune and no check interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    /// The budget in MiB, for each pipeline this processor is listed in.
    pub limit_mib: u64,
    /// Accepted for Collector compatibility; unused because the budget is checked on
    /// every request.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub check_interval: Option<Duration>,
    /// Accepted for Collector compatibility; unused (there is no soft limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike_limit_mib: Option<u64>,
}

impl ComponentConfig for MemoryLimiterConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.limit_mib == 0 {
            return Err(ValidationError::new("limit_mib must be greater than 0"));
        }
        Ok(())
    }
}

pub struct MemoryLimiterFactory;

impl Factory for MemoryLimiterFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "memory_limiter",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description: "Refuses requests past a byte budget, charged before decoding",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<MemoryLimiterConfig>(node)
    }
}

impl ProcessorFactory for MemoryLimiterFactory {
    fn build(
        &self,
        node: &Node,
        _signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: MemoryLimiterConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let bytes = config.limit_mib.saturating_mul(1024 * 1024) as usize;
        Ok(BuiltProcessor {
            stage: Box::new(PassThrough),
            admission_budget: Some(MemoryBudget::new(ctx.id.clone(), bytes)),
        })
    }
}

/// The budget does the work at the receiver; in the pipeline nothing changes.
struct PassThrough;

impl Processor for PassThrough {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) {
        out.push(msg);
    }

    /// So a pipeline whose only processor is this one is still routed directly.
    fn unchanged(&self) -> Option<Unchanged> {
        Some(Unchanged::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_pipeline::admission::Admission;
    use sentinel_pipeline::config::{NodeValue, Span};
    use sentinel_pipeline::SelfMetrics;

    fn node(limit: i64) -> Node {
        let span = Span::unknown();
        Node::new(
            NodeValue::Map(vec![(
                Node::new(NodeValue::String("limit_mib".into()), span.clone()),
                Node::new(NodeValue::Int(limit), span.clone()),
            )]),
            span,
        )
    }

    #[test]
    fn builds_a_budget_of_the_configured_size() {
        let ctx = BuildContext {
            id: "memory_limiter".into(),
            metrics: SelfMetrics::new(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            data_dir: std::env::temp_dir(),
        };
        let built = MemoryLimiterFactory
            .build(&node(1), Signal::Traces, ctx)
            .unwrap();
        let budget = built.admission_budget.expect("a budget for receivers");
        assert_eq!(budget.limit(), 1024 * 1024);
        let held = Admission::charge(std::slice::from_ref(&budget), 1000 * 1024).unwrap();
        let refusal = Admission::charge(std::slice::from_ref(&budget), 100 * 1024).unwrap_err();
        assert_eq!(refusal.kind, sentinel_pipeline::RefusalKind::Capacity);
        drop(held);
        assert!(Admission::charge(std::slice::from_ref(&budget), 100 * 1024).is_ok());
    }

    #[test]
    fn zero_is_rejected() {
        assert!(MemoryLimiterFactory.check(&node(0)).is_err());
        assert!(MemoryLimiterFactory.check(&node(64)).is_ok());
    }
}
