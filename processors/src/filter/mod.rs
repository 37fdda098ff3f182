//! `filter` processor: drops spans, log records, metrics and data points that match any
//! of its OTTL conditions (the Collector's `filter` processor, for the simple cases).
//! The conditions are parsed when the config is decoded; see [`FilterConfig`].

mod apply;
#[cfg(test)]
mod compliance;
mod condition;
mod config;
mod parse;
#[cfg(test)]
mod tests;

use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, ComponentMetrics, Factory, Kind,
    Message, Payload, Processor, ProcessorFactory, Signal,
};

pub use condition::{
    Condition, DataPointContext, EvalError, LogRecordContext, MetricContext, SpanContext,
};
pub use config::{ErrorMode, FilterConfig, LogsFilter, MetricsFilter, TracesFilter};
pub use parse::ParseError;

use apply::Evaluation;

pub struct FilterFactory;

impl Factory for FilterFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "filter",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description:
                "Drops spans, log records, metrics and data points matching OTTL conditions",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<FilterConfig>(node)
    }
}

impl ProcessorFactory for FilterFactory {
    fn build(
        &self,
        node: &Node,
        signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: FilterConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(BuiltProcessor {
            stage: Box::new(FilterProcessor {
                metrics: ctx.component_metrics(Kind::Processor, signal),
                config,
                logged_error: false,
            }),
            admission_budget: None,
        })
    }
}

pub struct FilterProcessor {
    config: FilterConfig,
    metrics: ComponentMetrics,
    /// Evaluation errors are logged at warn the first time, then at debug.
    logged_error: bool,
}

impl FilterProcessor {
    fn has_conditions(&self, payload: &Payload) -> bool {
        match payload {
            Payload::Traces(_) => !self.config.traces.span.is_empty(),
            Payload::Logs(_) => !self.config.logs.log_record.is_empty(),
            Payload::Metrics(_) => {
                let metrics = &self.config.metrics;
                !metrics.metric.is_empty() || !metrics.datapoint.is_empty()
            }
        }
    }

    fn log_error(&mut self, error: &EvalError) {
        let mode = self.config.error_mode;
        if mode == ErrorMode::Silent {
            return;
        }
        let component = self.metrics.id();
        if self.logged_error {
            tracing::debug!(component, ?mode, %error, "A filter condition failed.");
        } else {
            self.logged_error = true;
            tracing::warn!(component, ?mode, %error,
                "A filter condition failed; later failures are logged at debug level.");
        }
    }
}

impl Processor for FilterProcessor {
    fn process(&mut self, mut msg: Message, out: &mut Vec<Message>) {
        if !self.has_conditions(&msg.payload) {
            out.push(msg);
            return;
        }
        let received = msg.payload.item_count();
        let mut eval = Evaluation::default();
        match &mut msg.payload {
            Payload::Traces(req) => apply::traces(req, &self.config.traces, &mut eval),
            Payload::Logs(req) => apply::logs(req, &self.config.logs, &mut eval),
            Payload::Metrics(req) => apply::metrics(req, &self.config.metrics, &mut eval),
        }
        if let Some(error) = eval.error {
            self.log_error(&error);
            if self.config.error_mode == ErrorMode::Propagate {
                self.metrics.dropped(
                    received,
                    "a filter condition failed (error_mode: propagate)",
                );
                return;
            }
        }
        let kept = msg.payload.item_count();
        if kept < received {
            self.metrics.dropped(received - kept, "filtered");
        }
        // Nothing left: the request is done, and its client is answered as delivered.
        if is_empty(&msg.payload) {
            return;
        }
        out.push(msg);
    }
}

fn is_empty(payload: &Payload) -> bool {
    match payload {
        Payload::Traces(req) => req.resource_spans.is_empty(),
        Payload::Logs(req) => req.resource_logs.is_empty(),
        Payload::Metrics(req) => req.resource_metrics.is_empty(),
    }
}
