//! Removing what matches from one request, signal by signal. Empty scopes and resources
//! go too, and metrics the filter left without data points.

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::signal::data_point_count;
use sentinel_pipeline::visit;

use super::condition::{Condition, EvalError, Item};
use super::config::{LogsFilter, MetricsFilter, TracesFilter};

/// Evaluates conditions over one request and keeps the first error any raised.
#[derive(Default)]
pub struct Evaluation {
    pub error: Option<EvalError>,
}

impl Evaluation {
    /// Whether `item` matches any condition. A condition that fails counts as not
    /// matching; its error is kept for `error_mode`.
    fn drops<C>(&mut self, conditions: &[Condition<C>], item: &Item) -> bool {
        conditions.iter().any(|condition| {
            condition.matches(item).unwrap_or_else(|err| {
                self.error.get_or_insert(err);
                false
            })
        })
    }
}

fn attributes(resource: Option<&Resource>) -> &[KeyValue] {
    resource.map_or(&[], |r| r.attributes.as_slice())
}

pub fn traces(req: &mut ExportTraceServiceRequest, filter: &TracesFilter, eval: &mut Evaluation) {
    visit::retain_items(req, |resource, _, span| {
        let item = Item {
            name: &span.name,
            attributes: &span.attributes,
            resource: attributes(resource),
        };
        !eval.drops(&filter.span, &item)
    });
    visit::remove_empty(req);
}

pub fn logs(req: &mut ExportLogsServiceRequest, filter: &LogsFilter, eval: &mut Evaluation) {
    visit::retain_items(req, |resource, _, record| {
        let item = Item {
            name: "",
            attributes: &record.attributes,
            resource: attributes(resource),
        };
        !eval.drops(&filter.log_record, &item)
    });
    visit::remove_empty(req);
}

pub fn metrics(
    req: &mut ExportMetricsServiceRequest,
    filter: &MetricsFilter,
    eval: &mut Evaluation,
) {
    visit::retain_items_mut(req, |resource, _, metric| {
        let resource = attributes(resource);
        let item = Item {
            name: &metric.name,
            attributes: &[],
            resource,
        };
        if eval.drops(&filter.metric, &item) {
            return false;
        }
        if filter.datapoint.is_empty() {
            return true;
        }
        let had_points = data_point_count(metric.data.as_ref()) > 0;
        if let Some(data) = &mut metric.data {
            retain_points(data, |attributes| {
                let item = Item {
                    name: &metric.name,
                    attributes,
                    resource,
                };
                !eval.drops(&filter.datapoint, &item)
            });
        }
        !had_points || data_point_count(metric.data.as_ref()) > 0
    });
    visit::remove_empty(req);
}

/// Keeps the data points, of whatever type, whose attributes `keep` accepts.
fn retain_points(data: &mut Data, mut keep: impl FnMut(&[KeyValue]) -> bool) {
    match data {
        Data::Gauge(g) => g.data_points.retain(|p| keep(&p.attributes)),
        Data::Sum(s) => s.data_points.retain(|p| keep(&p.attributes)),
        Data::Histogram(h) => h.data_points.retain(|p| keep(&p.attributes)),
        Data::ExponentialHistogram(h) => h.data_points.retain(|p| keep(&p.attributes)),
        Data::Summary(s) => s.data_points.retain(|p| keep(&p.attributes)),
    }
}
