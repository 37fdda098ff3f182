use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, Gauge, Histogram, Sum, Summary,
};

use super::*;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        ..Default::default()
    })
}

fn span(name: &str) -> Span {
    Span {
        name: name.into(),
        ..Default::default()
    }
}

/// Resource `a` with scopes `s1` (spans x, y) and `s2` (z); resource `b` with one scope
/// without an `InstrumentationScope` (w).
fn traces() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: resource("a"),
                scope_spans: vec![
                    ScopeSpans {
                        scope: scope("s1"),
                        spans: vec![span("x"), span("y")],
                        ..Default::default()
                    },
                    ScopeSpans {
                        scope: scope("s2"),
                        spans: vec![span("z")],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
            ResourceSpans {
                resource: resource("b"),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("w")],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    }
}

fn logs() -> ExportLogsServiceRequest {
    let record = |body: &str| LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("l"),
            scope_logs: vec![
                ScopeLogs {
                    scope: scope("s1"),
                    log_records: vec![record("one")],
                    ..Default::default()
                },
                ScopeLogs {
                    scope: scope("s2"),
                    log_records: vec![record("two"), record("three")],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, data: Option<Data>) -> Metric {
    Metric {
        name: name.into(),
        data,
        ..Default::default()
    }
}

/// One metric of every type: a gauge of 2 points and one point of each other type,
/// plus a metric without data.
fn metrics() -> ExportMetricsServiceRequest {
    let number = |tag: &str| NumberDataPoint {
        attributes: vec![kv("tag", tag)],
        ..Default::default()
    };
    let tagged = |tag: &str| vec![kv("tag", tag)];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("m"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("meter"),
                metrics: vec![
                    metric(
                        "gauge",
                        Some(Data::Gauge(Gauge {
                            data_points: vec![number("g1"), number("g2")],
                        })),
                    ),
                    metric(
                        "sum",
                        Some(Data::Sum(Sum {
                            data_points: vec![number("s")],
                            ..Default::default()
                        })),
                    ),
                    metric(
                        "histogram",
                        Some(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: tagged("h"),
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                    ),
                    metric(
                        "exponential",
                        Some(Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                attributes: tagged("e"),
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                    ),
                    metric(
                        "summary",
                        Some(Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                attributes: tagged("q"),
                                ..Default::default()
                            }],
                        })),
                    ),
                    metric("empty", None),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn text(attributes: &[KeyValue], key: &str) -> String {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn service(resource: Option<&Resource>) -> String {
    text(&resource.unwrap().attributes, "service.name")
}

fn scope_name(scope: Option<&InstrumentationScope>) -> &str {
    scope.map_or("-", |s| s.name.as_str())
}

#[test]
fn items_come_in_order_with_their_resource_and_scope() {
    let request = traces();
    let seen: Vec<(String, &str, &str)> = items(&request)
        .map(|(r, s, span)| (service(r), scope_name(s), span.name.as_str()))
        .collect();
    let expected = [
        ("a", "s1", "x"),
        ("a", "s1", "y"),
        ("a", "s2", "z"),
        ("b", "-", "w"),
    ];
    assert_eq!(
        seen,
        expected.map(|(r, s, i)| (r.to_string(), s, i)).to_vec()
    );

    let request = logs();
    let bodies: Vec<(&str, String)> = items(&request)
        .map(|(_, s, record)| {
            let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            (scope_name(s), body)
        })
        .collect();
    assert_eq!(
        bodies,
        [("s1", "one"), ("s2", "two"), ("s2", "three")].map(|(s, b)| (s, b.to_string()))
    );
}

#[test]
fn items_mut_changes_every_item_and_reads_its_context() {
    let mut request = traces();
    for (resource, scope, span) in items_mut(&mut request) {
        span.name = format!("{}/{}/{}", service(resource), scope_name(scope), span.name);
    }
    let names: Vec<&str> = items(&request).map(|(_, _, s)| s.name.as_str()).collect();
    assert_eq!(names, ["a/s1/x", "a/s1/y", "a/s2/z", "b/-/w"]);

    // The closure form walks the same items in the same order.
    let mut request = traces();
    for_each_item_mut(&mut request, |resource, scope, span| {
        span.name = format!("{}/{}/{}", service(resource), scope_name(scope), span.name);
    });
    let again: Vec<&str> = items(&request).map(|(_, _, s)| s.name.as_str()).collect();
    assert_eq!(again, names);
}

#[test]
fn counts_sum_scope_lengths_and_data_points() {
    assert_eq!(item_count(&traces()), 4);
    assert_eq!(item_count(&logs()), 3);
    assert_eq!(item_count(&metrics()), 6, "metrics, not points");
    assert_eq!(data_point_count(&metrics()), 6, "2 gauge points + 4 others");
    assert_eq!(item_count(&ExportTraceServiceRequest::default()), 0);
    let request = traces();
    let per_resource: Vec<usize> = request
        .groups()
        .iter()
        .map(ResourceGroup::item_count)
        .collect();
    assert_eq!(per_resource, [3, 1]);
}

#[test]
fn a_resource_group_walks_its_own_items() {
    let request = traces();
    let first: Vec<(&str, &str)> = request.groups()[0]
        .items()
        .map(|(s, span)| (scope_name(s), span.name.as_str()))
        .collect();
    assert_eq!(first, [("s1", "x"), ("s1", "y"), ("s2", "z")]);
}

#[test]
fn data_points_of_every_type_carry_their_metric() {
    let request = metrics();
    let seen: Vec<(&str, &'static str, String)> = data_points(&request)
        .map(|(r, s, metric, point)| {
            assert_eq!(service(r), "m");
            assert_eq!(scope_name(s), "meter");
            let kind = match point {
                DataPoint::Number(_) => "number",
                DataPoint::Histogram(_) => "histogram",
                DataPoint::ExponentialHistogram(_) => "exponential",
                DataPoint::Summary(_) => "summary",
            };
            (metric.name.as_str(), kind, text(point.attributes(), "tag"))
        })
        .collect();
    let expected = [
        ("gauge", "number", "g1"),
        ("gauge", "number", "g2"),
        ("sum", "number", "s"),
        ("histogram", "histogram", "h"),
        ("exponential", "exponential", "e"),
        ("summary", "summary", "q"),
    ];
    assert_eq!(seen, expected.map(|(m, k, t)| (m, k, t.to_string())));
}

#[test]
fn points_know_their_length_and_fold_like_next() {
    let request = metrics();
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let lengths: Vec<usize> = metrics.iter().map(|m| points(m).len()).collect();
    assert_eq!(lengths, [2, 1, 1, 1, 1, 0]);
    for metric in metrics {
        // `for_each` goes through `fold`, `collect` through `next`.
        let mut folded = Vec::new();
        points(metric).for_each(|p| folded.push(p));
        let stepped: Vec<DataPoint<'_>> = points(metric).collect();
        assert_eq!(folded, stepped, "{}", metric.name);
        let mut iter = points(metric);
        iter.by_ref().for_each(drop);
        assert_eq!(iter.next(), None);
    }
}

#[test]
fn data_points_mut_reach_every_point_type() {
    let mut request = metrics();
    let mut changed = 0;
    for (resource, _, point) in data_points_mut(&mut request) {
        let service = service(resource);
        point.attributes_mut().push(kv("service", &service));
        changed += 1;
    }
    assert_eq!(changed, 6);
    assert!(data_points(&request).all(|(_, _, _, p)| text(p.attributes(), "service") == "m"));
    let metric = &mut request.resource_metrics[0].scope_metrics[0].metrics[1];
    points_mut(metric).for_each(|p| p.attributes_mut().clear());
    assert!(points(metric).all(|p| p.attributes().is_empty()));
}

#[test]
fn retain_items_counts_what_it_removes_and_keeps_the_nesting() {
    let mut request = traces();
    let removed = retain_items(&mut request, |resource, scope, span| {
        service(resource) == "a" && scope_name(scope) == "s1" && span.name != "y"
    });
    assert_eq!(removed, 3);
    assert_eq!(request.resource_spans.len(), 2, "emptied resources stay");
    assert_eq!(request.resource_spans[0].scope_spans.len(), 2);
    let names: Vec<&str> = items(&request).map(|(_, _, s)| s.name.as_str()).collect();
    assert_eq!(names, ["x"]);

    remove_empty(&mut request);
    assert_eq!(request.resource_spans.len(), 1);
    assert_eq!(request.resource_spans[0].scope_spans.len(), 1);
    assert_eq!(item_count(&request), 1);
}

#[test]
fn payload_walks_reach_every_signal() {
    let mut payloads = [
        Payload::Traces(traces()),
        Payload::Metrics(metrics()),
        Payload::Logs(logs()),
    ];
    for payload in &mut payloads {
        let mut resources = 0;
        for_each_resource_mut(payload, |resource| {
            *resource = None;
            resources += 1;
        });
        let mut attributed = 0;
        for_each_item_attributes_mut(payload, |attributes| {
            attributes.push(kv("seen", "yes"));
            attributed += 1;
        });
        let (expected_resources, expected_items) = match payload {
            Payload::Traces(_) => (2, 4),
            Payload::Metrics(_) => (1, 6),
            Payload::Logs(_) => (1, 3),
        };
        assert_eq!(resources, expected_resources, "{}", payload.signal());
        assert_eq!(attributed, expected_items, "{}", payload.signal());
        assert_eq!(attributed, payload.item_count(), "{}", payload.signal());
        match payload {
            Payload::Traces(r) => assert!(r.resource_spans.iter().all(|g| g.resource.is_none())),
            Payload::Metrics(r) => {
                assert!(r.resource_metrics.iter().all(|g| g.resource.is_none()));
                assert!(data_points(r).all(|(_, _, _, p)| text(p.attributes(), "seen") == "yes"));
            }
            Payload::Logs(r) => {
                assert!(r.resource_logs.iter().all(|g| g.resource.is_none()));
                assert!(items(r).all(|(_, _, l)| text(&l.attributes, "seen") == "yes"));
            }
        }
    }
}
