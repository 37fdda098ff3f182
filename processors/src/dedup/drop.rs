//! Spans and data points: drops every item whose identity the seen-set already holds,
//! within a request as well as across requests, as `duplicate` tells. Containers left
//! empty go too.

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::InstrumentationScope;
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::Metric;
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::visit;

use super::key;

/// Drops duplicate spans; returns how many.
pub fn traces(
    req: &mut ExportTraceServiceRequest,
    duplicate: &mut impl FnMut(u64) -> bool,
) -> usize {
    let dropped = visit::retain_items(req, |_, _, span| !duplicate(key::span(span)));
    visit::remove_empty(req);
    dropped
}

/// Drops duplicate data points; returns how many.
pub fn metrics(
    req: &mut ExportMetricsServiceRequest,
    duplicate: &mut impl FnMut(u64) -> bool,
) -> usize {
    let mut dropped = 0;
    visit::retain_items_mut(req, |resource, scope, metric| {
        let had_points = metric.data.as_ref().is_some_and(has_points);
        dropped += metric_points(metric, resource, scope, duplicate);
        // Only metrics this emptied go; ones that came in empty stay as they were.
        !had_points || metric.data.as_ref().is_some_and(has_points)
    });
    visit::remove_empty(req);
    dropped
}

fn has_points(data: &Data) -> bool {
    match data {
        Data::Gauge(g) => !g.data_points.is_empty(),
        Data::Sum(s) => !s.data_points.is_empty(),
        Data::Histogram(h) => !h.data_points.is_empty(),
        Data::ExponentialHistogram(h) => !h.data_points.is_empty(),
        Data::Summary(s) => !s.data_points.is_empty(),
    }
}

fn metric_points(
    metric: &mut Metric,
    resource: Option<&Resource>,
    scope: Option<&InstrumentationScope>,
    duplicate: &mut impl FnMut(u64) -> bool,
) -> usize {
    let Some(data) = metric.data.as_mut() else {
        return 0;
    };
    let prefix = key::series_prefix(resource, scope, &metric.name, data);
    let mut dropped = 0;
    let mut keep = |key: u64| {
        let is_duplicate = duplicate(key);
        dropped += usize::from(is_duplicate);
        !is_duplicate
    };
    match data {
        Data::Gauge(g) => g
            .data_points
            .retain(|p| keep(key::number_point(&prefix, p))),
        Data::Sum(s) => s
            .data_points
            .retain(|p| keep(key::number_point(&prefix, p))),
        Data::Histogram(h) => h
            .data_points
            .retain(|p| keep(key::histogram_point(&prefix, p))),
        Data::ExponentialHistogram(h) => h
            .data_points
            .retain(|p| keep(key::exponential_histogram_point(&prefix, p))),
        Data::Summary(s) => s
            .data_points
            .retain(|p| keep(key::summary_point(&prefix, p))),
    }
    dropped
}
