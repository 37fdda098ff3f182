//! Removing what matches from one request, signal by signal. Containers the filter
//! emptied (scopes, resources, metrics without data points) go too; ones that came in
//! empty are left as they were.

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::signal::data_point_count;

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

fn attributes(resource: &Option<Resource>) -> &[KeyValue] {
    resource.as_ref().map_or(&[], |r| r.attributes.as_slice())
}

/// `items.retain(keep)`, and whether that emptied a non-empty list.
fn retain_emptied<T>(items: &mut Vec<T>, keep: impl FnMut(&mut T) -> bool) -> bool {
    let had_items = !items.is_empty();
    items.retain_mut(keep);
    had_items && items.is_empty()
}

pub fn traces(req: &mut ExportTraceServiceRequest, filter: &TracesFilter, eval: &mut Evaluation) {
    req.resource_spans.retain_mut(|resource_spans| {
        let resource = attributes(&resource_spans.resource);
        !retain_emptied(&mut resource_spans.scope_spans, |scope| {
            !retain_emptied(&mut scope.spans, |span| {
                let item = Item {
                    name: &span.name,
                    attributes: &span.attributes,
                    resource,
                };
                !eval.drops(&filter.span, &item)
            })
        })
    });
}

pub fn logs(req: &mut ExportLogsServiceRequest, filter: &LogsFilter, eval: &mut Evaluation) {
    req.resource_logs.retain_mut(|resource_logs| {
        let resource = attributes(&resource_logs.resource);
        !retain_emptied(&mut resource_logs.scope_logs, |scope| {
            !retain_emptied(&mut scope.log_records, |record| {
                let item = Item {
                    name: "",
                    attributes: &record.attributes,
                    resource,
                };
                !eval.drops(&filter.log_record, &item)
            })
        })
    });
}

pub fn metrics(
    req: &mut ExportMetricsServiceRequest,
    filter: &MetricsFilter,
    eval: &mut Evaluation,
) {
    req.resource_metrics.retain_mut(|resource_metrics| {
        let resource = attributes(&resource_metrics.resource);
        !retain_emptied(&mut resource_metrics.scope_metrics, |scope| {
            !retain_emptied(&mut scope.metrics, |metric| {
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
            })
        })
    });
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
