//! The one walk over the nesting every OTLP signal shares: a request holds resources, a
//! resource holds scopes, a scope holds items (spans, metrics or log records). Components
//! walk through these functions instead of spelling out the three nested loops per signal.
//!
//! - [`items`] / [`items_mut`] / [`for_each_item_mut`]: every item with its resource and
//!   scope (the closure form is a plain nested loop, for the per-item hot paths).
//! - [`ExportRequest::groups`], [`ResourceGroup::scopes`], [`ResourceGroup::items`]: the
//!   same walk a level at a time, for work done once per resource or per scope.
//! - [`points`], [`data_points`] / [`data_points_mut`]: metric data points of every type.
//! - [`retain_items`] and [`remove_empty`]: dropping items while keeping the nesting.
//! - [`for_each_resource_mut`], [`for_each_item_attributes_mut`]: the same change on
//!   any signal of a [`Payload`].

use std::iter::FusedIterator;
use std::slice;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::signal::{self, Payload};

/// An export request of one signal: its resource groups.
pub trait ExportRequest: Default {
    type Group: ResourceGroup<Scope = Self::Scope, Item = Self::Item>;
    type Scope: ScopeGroup<Item = Self::Item>;
    /// A span, a metric or a log record.
    type Item;

    fn groups(&self) -> &[Self::Group];
    fn groups_mut(&mut self) -> &mut Vec<Self::Group>;
}

/// One resource and the scopes under it (`ResourceSpans`, `ResourceMetrics`, `ResourceLogs`).
pub trait ResourceGroup {
    type Scope: ScopeGroup<Item = Self::Item>;
    type Item;

    fn resource(&self) -> Option<&Resource>;
    fn resource_mut(&mut self) -> &mut Option<Resource>;
    fn scopes(&self) -> &[Self::Scope];
    /// The resource to read and the scopes to change, borrowed together.
    fn parts_mut(&mut self) -> (Option<&Resource>, &mut Vec<Self::Scope>);

    fn scopes_mut(&mut self) -> &mut Vec<Self::Scope>;

    /// The items of every scope of this resource, each with its scope.
    fn items(&self) -> impl Iterator<Item = (Option<&InstrumentationScope>, &Self::Item)> {
        self.scopes().iter().flat_map(|group| {
            let scope = group.scope();
            group.items().iter().map(move |item| (scope, item))
        })
    }

    fn item_count(&self) -> usize {
        self.scopes().iter().map(|s| s.items().len()).sum()
    }
}

/// One instrumentation scope and its items (`ScopeSpans`, `ScopeMetrics`, `ScopeLogs`).
pub trait ScopeGroup {
    type Item;

    fn scope(&self) -> Option<&InstrumentationScope>;
    fn items(&self) -> &[Self::Item];
    /// The scope to read and the items to change, borrowed together.
    fn parts_mut(&mut self) -> (Option<&InstrumentationScope>, &mut Vec<Self::Item>);

    fn items_mut(&mut self) -> &mut Vec<Self::Item>;
}

/// The same three-level shape, named per signal by its proto field names.
macro_rules! levels {
    ($request:ty, $groups:ident: $group:ty, $scopes:ident: $scope:ty, $items:ident: $item:ty) => {
        impl ExportRequest for $request {
            type Group = $group;
            type Scope = $scope;
            type Item = $item;

            fn groups(&self) -> &[$group] {
                &self.$groups
            }
            fn groups_mut(&mut self) -> &mut Vec<$group> {
                &mut self.$groups
            }
        }

        impl ResourceGroup for $group {
            type Scope = $scope;
            type Item = $item;

            fn resource(&self) -> Option<&Resource> {
                self.resource.as_ref()
            }
            fn resource_mut(&mut self) -> &mut Option<Resource> {
                &mut self.resource
            }
            fn scopes(&self) -> &[$scope] {
                &self.$scopes
            }
            fn parts_mut(&mut self) -> (Option<&Resource>, &mut Vec<$scope>) {
                (self.resource.as_ref(), &mut self.$scopes)
            }
            fn scopes_mut(&mut self) -> &mut Vec<$scope> {
                &mut self.$scopes
            }
        }

        impl ScopeGroup for $scope {
            type Item = $item;

            fn scope(&self) -> Option<&InstrumentationScope> {
                self.scope.as_ref()
            }
            fn items(&self) -> &[$item] {
                &self.$items
            }
            fn parts_mut(&mut self) -> (Option<&InstrumentationScope>, &mut Vec<$item>) {
                (self.scope.as_ref(), &mut self.$items)
            }
            fn items_mut(&mut self) -> &mut Vec<$item> {
                &mut self.$items
            }
        }
    };
}

levels!(
    ExportTraceServiceRequest,
    resource_spans: ResourceSpans,
    scope_spans: ScopeSpans,
    spans: Span
);
levels!(
    ExportMetricsServiceRequest,
    resource_metrics: ResourceMetrics,
    scope_metrics: ScopeMetrics,
    metrics: Metric
);
levels!(
    ExportLogsServiceRequest,
    resource_logs: ResourceLogs,
    scope_logs: ScopeLogs,
    log_records: LogRecord
);

/// Every item of `request` with its resource and scope.
pub fn items<Q: ExportRequest>(
    request: &Q,
) -> impl Iterator<Item = (Option<&Resource>, Option<&InstrumentationScope>, &Q::Item)> {
    request.groups().iter().flat_map(|group| {
        let resource = group.resource();
        group
            .items()
            .map(move |(scope, item)| (resource, scope, item))
    })
}

/// Every item of `request`, to change, with its resource and scope to read. Walks over
/// every item of every request prefer [`for_each_item_mut`], a plain nested loop.
pub fn items_mut<Q: ExportRequest>(
    request: &mut Q,
) -> impl Iterator<
    Item = (
        Option<&Resource>,
        Option<&InstrumentationScope>,
        &mut Q::Item,
    ),
> {
    request.groups_mut().iter_mut().flat_map(|group| {
        let (resource, scopes) = group.parts_mut();
        scopes.iter_mut().flat_map(move |group| {
            let (scope, items) = group.parts_mut();
            items.iter_mut().map(move |item| (resource, scope, item))
        })
    })
}

/// Calls `f` on every item of `request` with its resource and scope: [`items_mut`] as a
/// plain nested loop, which compiles to fewer instructions per item.
pub fn for_each_item_mut<Q: ExportRequest>(
    request: &mut Q,
    mut f: impl FnMut(Option<&Resource>, Option<&InstrumentationScope>, &mut Q::Item),
) {
    for group in request.groups_mut() {
        let (resource, scopes) = group.parts_mut();
        for group in scopes {
            let (scope, items) = group.parts_mut();
            for item in items {
                f(resource, scope, item);
            }
        }
    }
}

/// Number of items (spans, metrics or log records): the scopes' lengths, summed.
pub fn item_count<Q: ExportRequest>(request: &Q) -> usize {
    request
        .groups()
        .iter()
        .flat_map(ResourceGroup::scopes)
        .map(|scope| scope.items().len())
        .sum()
}

/// Keeps the items for which `keep` is true; returns how many were removed. Emptied
/// scopes and resources stay (see [`remove_empty`]).
pub fn retain_items<Q: ExportRequest>(
    request: &mut Q,
    mut keep: impl FnMut(Option<&Resource>, Option<&InstrumentationScope>, &Q::Item) -> bool,
) -> usize {
    retain_items_mut(request, |resource, scope, item| keep(resource, scope, item))
}

/// As [`retain_items`], and `keep` may change the items it keeps (a sampler writing its
/// threshold onto the spans it keeps).
pub fn retain_items_mut<Q: ExportRequest>(
    request: &mut Q,
    mut keep: impl FnMut(Option<&Resource>, Option<&InstrumentationScope>, &mut Q::Item) -> bool,
) -> usize {
    let mut removed = 0;
    for group in request.groups_mut() {
        let (resource, scopes) = group.parts_mut();
        for group in scopes {
            let (scope, items) = group.parts_mut();
            let before = items.len();
            items.retain_mut(|item| keep(resource, scope, item));
            removed += before - items.len();
        }
    }
    removed
}

/// Drops scopes without items, then resources without scopes.
pub fn remove_empty<Q: ExportRequest>(request: &mut Q) {
    let groups = request.groups_mut();
    for group in groups.iter_mut() {
        group.scopes_mut().retain(|s| !s.items().is_empty());
    }
    groups.retain(|g| !g.scopes().is_empty());
}

/// Calls `f` on the resource of every resource group, whatever the signal.
pub fn for_each_resource_mut(payload: &mut Payload, mut f: impl FnMut(&mut Option<Resource>)) {
    fn each<Q: ExportRequest>(request: &mut Q, f: &mut impl FnMut(&mut Option<Resource>)) {
        request
            .groups_mut()
            .iter_mut()
            .for_each(|g| f(g.resource_mut()));
    }
    match payload {
        Payload::Traces(request) => each(request, &mut f),
        Payload::Metrics(request) => each(request, &mut f),
        Payload::Logs(request) => each(request, &mut f),
    }
}

/// Calls `f` on the attributes of every span, log record and metric data point.
pub fn for_each_item_attributes_mut(payload: &mut Payload, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match payload {
        Payload::Traces(request) => {
            for_each_item_mut(request, |_, _, span| f(&mut span.attributes))
        }
        Payload::Logs(request) => {
            for_each_item_mut(request, |_, _, record| f(&mut record.attributes))
        }
        Payload::Metrics(request) => for_each_item_mut(request, |_, _, metric| {
            points_mut(metric).for_each(|point| f(point.attributes_mut()))
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Metric data points
// ---------------------------------------------------------------------------------------

/// One data point of a metric, whatever its type. Gauges and sums have number points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataPoint<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    ExponentialHistogram(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

impl<'a> DataPoint<'a> {
    pub fn attributes(self) -> &'a [KeyValue] {
        match self {
            DataPoint::Number(p) => &p.attributes,
            DataPoint::Histogram(p) => &p.attributes,
            DataPoint::ExponentialHistogram(p) => &p.attributes,
            DataPoint::Summary(p) => &p.attributes,
        }
    }
}

/// One data point of a metric, to change.
#[derive(Debug, PartialEq)]
pub enum DataPointMut<'a> {
    Number(&'a mut NumberDataPoint),
    Histogram(&'a mut HistogramDataPoint),
    ExponentialHistogram(&'a mut ExponentialHistogramDataPoint),
    Summary(&'a mut SummaryDataPoint),
}

impl<'a> DataPointMut<'a> {
    pub fn attributes_mut(self) -> &'a mut Vec<KeyValue> {
        match self {
            DataPointMut::Number(p) => &mut p.attributes,
            DataPointMut::Histogram(p) => &mut p.attributes,
            DataPointMut::ExponentialHistogram(p) => &mut p.attributes,
            DataPointMut::Summary(p) => &mut p.attributes,
        }
    }
}

/// Defines an iterator over the points of one metric's data, by reference or mutable
/// reference. `fold` is written out so that `for_each` runs one tight loop per metric
/// rather than matching the point type at every step.
macro_rules! points_iter {
    ($name:ident, $point:ident, $iter:ident, $iter_fn:ident $(, $mut:tt)?) => {
        #[derive(Debug)]
        pub struct $name<'a>(
            PointSlices<
                slice::$iter<'a, NumberDataPoint>,
                slice::$iter<'a, HistogramDataPoint>,
                slice::$iter<'a, ExponentialHistogramDataPoint>,
                slice::$iter<'a, SummaryDataPoint>,
            >,
        );

        impl<'a> $name<'a> {
            pub fn of(data: Option<&'a $($mut)? Data>) -> Self {
                $name(match data {
                    Some(Data::Gauge(g)) => PointSlices::Number(g.data_points.$iter_fn()),
                    Some(Data::Sum(s)) => PointSlices::Number(s.data_points.$iter_fn()),
                    Some(Data::Histogram(h)) => PointSlices::Histogram(h.data_points.$iter_fn()),
                    Some(Data::ExponentialHistogram(h)) => {
                        PointSlices::ExponentialHistogram(h.data_points.$iter_fn())
                    }
                    Some(Data::Summary(s)) => PointSlices::Summary(s.data_points.$iter_fn()),
                    None => PointSlices::None,
                })
            }
        }

        impl<'a> Iterator for $name<'a> {
            type Item = $point<'a>;

            fn next(&mut self) -> Option<$point<'a>> {
                match &mut self.0 {
                    PointSlices::Number(it) => it.next().map($point::Number),
                    PointSlices::Histogram(it) => it.next().map($point::Histogram),
                    PointSlices::ExponentialHistogram(it) => {
                        it.next().map($point::ExponentialHistogram)
                    }
                    PointSlices::Summary(it) => it.next().map($point::Summary),
                    PointSlices::None => None,
                }
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                let len = match &self.0 {
                    PointSlices::Number(it) => it.len(),
                    PointSlices::Histogram(it) => it.len(),
                    PointSlices::ExponentialHistogram(it) => it.len(),
                    PointSlices::Summary(it) => it.len(),
                    PointSlices::None => 0,
                };
                (len, Some(len))
            }

            fn fold<B, F: FnMut(B, $point<'a>) -> B>(self, init: B, mut f: F) -> B {
                match self.0 {
                    PointSlices::Number(it) => it.fold(init, |acc, p| f(acc, $point::Number(p))),
                    PointSlices::Histogram(it) => {
                        it.fold(init, |acc, p| f(acc, $point::Histogram(p)))
                    }
                    PointSlices::ExponentialHistogram(it) => {
                        it.fold(init, |acc, p| f(acc, $point::ExponentialHistogram(p)))
                    }
                    PointSlices::Summary(it) => it.fold(init, |acc, p| f(acc, $point::Summary(p))),
                    PointSlices::None => init,
                }
            }
        }

        impl ExactSizeIterator for $name<'_> {}
        impl FusedIterator for $name<'_> {}
    };
}

/// The slice iterator of whichever point type a metric holds.
#[derive(Debug)]
enum PointSlices<N, H, E, S> {
    Number(N),
    Histogram(H),
    ExponentialHistogram(E),
    Summary(S),
    None,
}

points_iter!(Points, DataPoint, Iter, iter);
points_iter!(PointsMut, DataPointMut, IterMut, iter_mut, mut);

/// The data points of one metric.
pub fn points(metric: &Metric) -> Points<'_> {
    Points::of(metric.data.as_ref())
}

/// The data points of one metric, to change.
pub fn points_mut(metric: &mut Metric) -> PointsMut<'_> {
    PointsMut::of(metric.data.as_mut())
}

/// Every data point of `request` with its resource, scope and metric.
pub fn data_points(
    request: &ExportMetricsServiceRequest,
) -> impl Iterator<
    Item = (
        Option<&Resource>,
        Option<&InstrumentationScope>,
        &Metric,
        DataPoint<'_>,
    ),
> {
    items(request).flat_map(|(resource, scope, metric)| {
        points(metric).map(move |point| (resource, scope, metric, point))
    })
}

/// Every data point of `request`, to change, with its resource and scope to read.
pub fn data_points_mut(
    request: &mut ExportMetricsServiceRequest,
) -> impl Iterator<
    Item = (
        Option<&Resource>,
        Option<&InstrumentationScope>,
        DataPointMut<'_>,
    ),
> {
    items_mut(request).flat_map(|(resource, scope, metric)| {
        points_mut(metric).map(move |point| (resource, scope, point))
    })
}

/// Number of data points in `request`: what the self-metrics count for metrics.
pub fn data_point_count(request: &ExportMetricsServiceRequest) -> usize {
    request
        .groups()
        .iter()
        .flat_map(ResourceGroup::scopes)
        .flat_map(ScopeGroup::items)
        .map(|metric| signal::data_point_count(metric.data.as_ref()))
        .sum()
}

#[cfg(test)]
mod tests;
