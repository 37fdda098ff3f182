//! `count` connector: counts spans, span events, log records, metrics and data points
//! from upstream pipelines into metrics for downstream metrics pipelines. Names follow the
//! Collector's count connector defaults.

#[cfg(test)]
mod compliance;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sentinel_pipeline::config::{check, Diagnostic, Node};
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::InstrumentationScope;
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::signal::data_point_count;
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, ComponentMetrics, Connector, ConnectorFactory,
    Factory, Kind, Message, Outputs, Payload, Refusal, Signal,
};
use serde::{Deserialize, Serialize};

/// `count` has no options yet: it emits the Collector's default counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountConfig {}

impl sentinel_pipeline::config::ComponentConfig for CountConfig {}

pub struct CountFactory;

impl Factory for CountFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "count",
            kind: Kind::Connector,
            signals: &Signal::ALL,
            description: "Counts spans, log records and data points into metrics",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<CountConfig>(node)
    }
}

impl ConnectorFactory for CountFactory {
    fn input_signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn output_signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, _node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        let metrics = Signal::ALL
            .into_iter()
            .map(|s| (s, ctx.component_metrics(Kind::Connector, s)))
            .collect();
        Ok(Arc::new(Count { metrics }))
    }
}

pub struct Count {
    metrics: BTreeMap<Signal, ComponentMetrics>,
}

/// One count: metric name, description and value.
type Value = (&'static str, &'static str, i64);
/// Per resource: the resource and its counts.
type Counted = Vec<(Option<Resource>, Vec<Value>)>;

fn count(payload: &Payload) -> Counted {
    match payload {
        Payload::Traces(req) => per_resource(req, |group| {
            let events: usize = group.items().map(|(_, span)| span.events.len()).sum();
            vec![
                (
                    "trace.span.count",
                    "The number of spans observed.",
                    group.item_count() as i64,
                ),
                (
                    "trace.span.event.count",
                    "The number of span events observed.",
                    events as i64,
                ),
            ]
        }),
        Payload::Logs(req) => per_resource(req, |group| {
            vec![(
                "log.record.count",
                "The number of log records observed.",
                group.item_count() as i64,
            )]
        }),
        Payload::Metrics(req) => per_resource(req, |group| {
            let points: usize = group
                .items()
                .map(|(_, m)| data_point_count(m.data.as_ref()))
                .sum();
            vec![
                (
                    "metric.count",
                    "The number of metrics observed.",
                    group.item_count() as i64,
                ),
                (
                    "metric.data_point.count",
                    "The number of data points observed.",
                    points as i64,
                ),
            ]
        }),
    }
}

/// Every resource of `request` with the counts `values` gives it.
fn per_resource<Q: ExportRequest>(
    request: &Q,
    values: impl Fn(&Q::Group) -> Vec<Value>,
) -> Counted {
    request
        .groups()
        .iter()
        .map(|group| (group.resource().cloned(), values(group)))
        .collect()
}

fn to_metrics(counted: Counted) -> Payload {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let resource_metrics = counted
        .into_iter()
        .map(|(resource, values)| ResourceMetrics {
            resource,
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "sentinel/connector/count".into(),
                    ..Default::default()
                }),
                metrics: values
                    .into_iter()
                    .map(|(name, description, value)| Metric {
                        name: name.into(),
                        description: description.into(),
                        unit: "{items}".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: now,
                                start_time_unix_nano: now,
                                value: Some(number_data_point::Value::AsInt(value)),
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Delta as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    Payload::Metrics(ExportMetricsServiceRequest { resource_metrics })
}

impl Connector for Count {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let metrics = &self.metrics[&msg.payload.signal()];
        let items = msg.payload.item_count();
        metrics.received(items);
        let Some(output) = outputs.get(&Signal::Metrics) else {
            return Ok(());
        };
        // The counts carry the upstream acks: the client is answered once they are queued.
        let counts = Message::new(to_metrics(count(&msg.payload)), msg.acks);
        let emitted = counts.payload.item_count();
        match output.send(counts) {
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
