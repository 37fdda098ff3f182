use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::{
    number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use sentinel_pipeline::testing::{component_counts, sinks_for, snippet, TestSink};
use sentinel_pipeline::{Acks, Connector, Kind, Message, Outputs, Payload, SelfMetrics, Signal};
use tokio_util::sync::CancellationToken;

use super::histogram::lower_bound;
use super::*;

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

struct Harness {
    connector: SpanMetrics,
    sink: Arc<TestSink>,
    outputs: Outputs,
    metrics: Arc<SelfMetrics>,
    shutdown: CancellationToken,
}

fn harness(yaml: &str) -> Harness {
    let config: SpanMetricsConfig =
        sentinel_pipeline::config::decode_valid(&snippet(yaml)).expect("valid config");
    let metrics = SelfMetrics::new();
    let shutdown = CancellationToken::new();
    let connector = SpanMetrics::start(&config, &metrics, "spanmetrics", shutdown.clone());
    let (sinks, outputs) = sinks_for(&[Signal::Metrics], false);
    Harness {
        connector,
        sink: sinks[&Signal::Metrics].clone(),
        outputs,
        metrics,
        shutdown,
    }
}

impl Harness {
    fn send(&self, request: ExportTraceServiceRequest) -> Result<(), sentinel_pipeline::Refusal> {
        let msg = Message::new(Payload::Traces(request), Acks::none());
        self.connector.consume(msg, &self.outputs)
    }

    fn last(&self) -> ExportMetricsServiceRequest {
        match self.sink.payloads().pop() {
            Some(Payload::Metrics(m)) => m,
            other => panic!("expected metrics, got {other:?}"),
        }
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn span(name: &str, duration_ns: u64, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![7; 16],
        span_id: vec![name.len() as u8; 8],
        name: name.into(),
        kind: 2,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + duration_ns,
        attributes,
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn svc(name: &str) -> Vec<KeyValue> {
    vec![kv("service.name", name)]
}

/// Attribute list as `key=value` strings.
fn labels(attributes: &[KeyValue]) -> Vec<String> {
    attributes
        .iter()
        .map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => format!("{}={s}", kv.key),
                other => format!("{}={other:?}", kv.key),
            },
        )
        .collect()
}

fn calls(m: &ExportMetricsServiceRequest) -> Vec<&NumberDataPoint> {
    metric_data(m, "traces.span.metrics.calls")
        .flat_map(|d| match d {
            Data::Sum(s) => s.data_points.iter(),
            other => panic!("calls is a sum, got {other:?}"),
        })
        .collect()
}

fn histograms(m: &ExportMetricsServiceRequest) -> Vec<&HistogramDataPoint> {
    metric_data(m, "traces.span.metrics.duration")
        .flat_map(|d| match d {
            Data::Histogram(h) => h.data_points.iter(),
            other => panic!("explicit histogram expected, got {other:?}"),
        })
        .collect()
}

fn exponentials(m: &ExportMetricsServiceRequest) -> Vec<&ExponentialHistogramDataPoint> {
    metric_data(m, "traces.span.metrics.duration")
        .flat_map(|d| match d {
            Data::ExponentialHistogram(h) => h.data_points.iter(),
            other => panic!("exponential histogram expected, got {other:?}"),
        })
        .collect()
}

fn metric_data<'a>(
    m: &'a ExportMetricsServiceRequest,
    name: &'a str,
) -> impl Iterator<Item = &'a Data> + 'a {
    m.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(move |metric| metric.name == name)
        .filter_map(|metric| metric.data.as_ref())
}

fn value(p: &NumberDataPoint) -> i64 {
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => v,
        other => panic!("integer expected, got {other:?}"),
    }
}

/// Calls per label set.
fn call_counts(m: &ExportMetricsServiceRequest) -> BTreeMap<Vec<String>, i64> {
    calls(m)
        .into_iter()
        .map(|p| (labels(&p.attributes), value(p)))
        .collect()
}

#[test]
fn default_and_configured_dimensions_label_every_series() {
    let h = harness(
        "metrics_flush_interval: 0s
dimensions:
  - name: http.method
    default: GET
  - name: http.route
  - name: region",
    );
    let mut error = span(
        "/pay",
        MS,
        vec![kv("http.route", "/pay"), kv("region", "span-eu")],
    );
    error.status = Some(Status {
        code: status::StatusCode::Error as i32,
        ..Default::default()
    });
    let resource = vec![kv("service.name", "shop"), kv("region", "res-us")];
    h.send(request(resource, vec![span("/cart", MS, vec![]), error]))
        .unwrap();
    let counts = call_counts(&h.last());
    let expected: BTreeMap<Vec<String>, i64> = [
        (
            // No http.route and no default: left off. region from the resource.
            vec![
                "service.name=shop",
                "span.name=/cart",
                "span.kind=SPAN_KIND_SERVER",
                "status.code=STATUS_CODE_UNSET",
                "http.method=GET",
                "region=res-us",
            ],
            1,
        ),
        (
            // The span's own region wins over the resource's.
            vec![
                "service.name=shop",
                "span.name=/pay",
                "span.kind=SPAN_KIND_SERVER",
                "status.code=STATUS_CODE_ERROR",
                "http.method=GET",
                "http.route=/pay",
                "region=span-eu",
            ],
            1,
        ),
    ]
    .into_iter()
    .map(|(l, v)| (l.into_iter().map(String::from).collect(), v))
    .collect();
    assert_eq!(counts, expected);
}

#[test]
fn excluded_default_dimensions_merge_series() {
    let h = harness("metrics_flush_interval: 0s\nexclude_dimensions: [status.code, span.kind]");
    let mut error = span("/a", MS, vec![]);
    error.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    h.send(request(svc("shop"), vec![span("/a", MS, vec![]), error]))
        .unwrap();
    let counts = call_counts(&h.last());
    assert_eq!(counts.len(), 1);
    assert_eq!(
        counts[&vec!["service.name=shop".to_string(), "span.name=/a".to_string()]],
        2
    );
}

#[test]
fn new_label_sets_past_the_limit_go_to_the_overflow_series() {
    let h = harness("metrics_flush_interval: 0s\ndimensions_cache_size: 2");
    let spans = ["a", "b", "c", "d", "a", "e", "b"]
        .iter()
        .map(|n| span(n, MS, vec![]))
        .collect();
    h.send(request(svc("shop"), spans)).unwrap();
    let m = h.last();
    let counts: BTreeMap<String, i64> = calls(&m)
        .into_iter()
        .map(|p| (labels(&p.attributes).join(","), value(p)))
        .collect();
    let series = |n: &str| {
        format!("service.name=shop,span.name={n},span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_UNSET")
    };
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(counts[&series("a")], 2, "known series keep counting");
    assert_eq!(counts[&series("b")], 2);
    assert_eq!(counts["otel.metric.overflow=true"], 3, "c, d and e");
    let overflow = histograms(&m)
        .into_iter()
        .find(|p| labels(&p.attributes) == ["otel.metric.overflow=true"])
        .expect("the overflow series has a duration point too");
    assert_eq!(overflow.count, 3);
    h.connector
        .with_state(|s| assert_eq!(s.overflowed_spans, 3));
}

#[test]
fn new_resources_past_the_limit_share_one_overflow_resource() {
    let h = harness("metrics_flush_interval: 0s\ndimensions_cache_size: 1");
    let with_pid = |pid: &str| vec![kv("service.name", "shop"), kv("process.pid", pid)];
    for pid in ["1", "2", "3", "4"] {
        h.send(request(with_pid(pid), vec![span("a", MS, vec![])]))
            .unwrap();
    }
    let m = h.last();
    // The first resource with its series, then one resource for every later one.
    assert_eq!(m.resource_metrics.len(), 2);
    let overflow = &m.resource_metrics[1];
    assert!(overflow.resource.as_ref().unwrap().attributes.is_empty());
    assert_eq!(
        call_counts(&m)[&vec!["otel.metric.overflow=true".to_string()]],
        3
    );
    h.connector.with_state(|s| assert_eq!(s.groups.len(), 2));
}

#[test]
fn cumulative_points_accumulate_from_the_connector_start_and_restart_with_it() {
    let h = harness("metrics_flush_interval: 0s");
    h.send(request(svc("shop"), vec![span("a", MS, vec![])]))
        .unwrap();
    let first = h.last();
    h.send(request(svc("shop"), vec![span("a", MS, vec![]); 2]))
        .unwrap();
    let second = h.last();
    let (p1, p2) = (calls(&first)[0], calls(&second)[0]);
    assert_eq!((value(p1), value(p2)), (1, 3));
    assert_eq!(p1.start_time_unix_nano, p2.start_time_unix_nano);
    assert!(p2.time_unix_nano >= p1.time_unix_nano);
    assert_eq!(histograms(&second)[0].count, 3);

    // An agent restart is a new connector: counts start over from a later start time.
    std::thread::sleep(Duration::from_millis(2));
    let restarted = harness("metrics_flush_interval: 0s");
    restarted
        .send(request(svc("shop"), vec![span("a", MS, vec![])]))
        .unwrap();
    let after = restarted.last();
    let p3 = calls(&after)[0];
    assert_eq!(value(p3), 1);
    assert!(p3.start_time_unix_nano > p2.start_time_unix_nano);
    assert!(p3.start_time_unix_nano >= p2.time_unix_nano);
}

#[test]
fn delta_points_cover_consecutive_intervals() {
    let h = harness(
        "metrics_flush_interval: 0s\naggregation_temporality: AGGREGATION_TEMPORALITY_DELTA",
    );
    h.send(request(svc("shop"), vec![span("a", MS, vec![]); 2]))
        .unwrap();
    let first = h.last();
    h.send(request(svc("shop"), vec![span("a", MS, vec![]); 3]))
        .unwrap();
    let second = h.last();
    let (p1, p2) = (calls(&first)[0], calls(&second)[0]);
    assert_eq!((value(p1), value(p2)), (2, 3));
    assert_eq!(
        p2.start_time_unix_nano, p1.time_unix_nano,
        "no gap, no overlap"
    );
    assert!(p1.start_time_unix_nano <= p1.time_unix_nano);
    assert_eq!(histograms(&second)[0].count, 3);
    // The limit applies per interval: series are forgotten after each delta flush.
    h.connector.with_state(|s| assert!(s.series.is_empty()));
}

#[test]
fn explicit_buckets_have_inclusive_upper_bounds() {
    let h = harness(
        "metrics_flush_interval: 0s\nhistogram:\n  explicit:\n    buckets: [2ms, 10ms, 1s]",
    );
    let durations = [
        0,
        2 * MS,
        2 * MS + 1,
        10 * MS,
        999 * MS,
        1000 * MS,
        20_000 * MS,
    ];
    let spans = durations.iter().map(|d| span("a", *d, vec![])).collect();
    h.send(request(svc("shop"), spans)).unwrap();
    let m = h.last();
    let p = histograms(&m)[0];
    assert_eq!(p.explicit_bounds, [2.0, 10.0, 1000.0]);
    assert_eq!(p.bucket_counts, [2, 2, 2, 1]);
    assert_eq!(p.count, 7);
    assert_eq!(p.min, Some(0.0));
    assert_eq!(p.max, Some(20_000.0));
    let sum: u64 = durations.iter().sum();
    assert!((p.sum.unwrap() - sum as f64 / 1e6).abs() < 1e-6);
}

#[test]
fn seconds_unit_scales_bounds_and_values() {
    let h = harness(
        "metrics_flush_interval: 0s\nhistogram:\n  unit: s\n  explicit:\n    buckets: [100ms, 1s]",
    );
    h.send(request(svc("shop"), vec![span("a", 500 * MS, vec![])]))
        .unwrap();
    let m = h.last();
    let p = histograms(&m)[0];
    assert_eq!(p.explicit_bounds, [0.1, 1.0]);
    assert_eq!(p.bucket_counts, [0, 1, 0]);
    assert_eq!(p.sum, Some(0.5));
}

#[test]
fn exponential_buckets_hold_each_value_between_their_bounds() {
    let h = harness("metrics_flush_interval: 0s\nhistogram:\n  exponential:\n    max_size: 160");
    let spans = [0, MS, 2 * MS, 3 * MS, 4 * MS]
        .iter()
        .map(|d| span("a", *d, vec![]))
        .collect();
    h.send(request(svc("shop"), spans)).unwrap();
    let m = h.last();
    let p = exponentials(&m)[0];
    // 1 ms and 4 ms are indexes -1 and 2^(scale+1) - 1: 2^(scale+1) + 1 buckets must fit
    // in 160, so the scale is 6 (129 buckets); 7 would need 257.
    assert_eq!(p.scale, 6);
    assert_eq!(p.zero_count, 1);
    assert_eq!(p.count, 5);
    let positive = p.positive.as_ref().unwrap();
    assert_eq!(positive.offset, -1);
    assert_eq!(positive.bucket_counts.len(), 129);
    let filled: Vec<(i32, u64)> = positive
        .bucket_counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| (positive.offset + i as i32, *c))
        .collect();
    // 2 = 2^(64/64): upper bound of bucket 63; 3 lies in (2^(101/64), 2^(102/64)].
    assert_eq!(filled, [(-1, 1), (63, 1), (101, 1), (127, 1)]);
    for (value, (index, _)) in [1.0, 2.0, 3.0, 4.0].iter().zip(&filled) {
        assert!(lower_bound(*index, 6) < *value && *value <= lower_bound(index + 1, 6));
    }
}

#[test]
fn exemplars_are_the_first_spans_of_each_interval() {
    let h =
        harness("metrics_flush_interval: 0s\nexemplars:\n  enabled: true\n  max_per_data_point: 2");
    let spans: Vec<Span> = (1..=3u8)
        .map(|i| Span {
            trace_id: vec![i; 16],
            span_id: vec![i; 8],
            ..span("a", u64::from(i) * MS, vec![])
        })
        .collect();
    h.send(request(svc("shop"), spans)).unwrap();
    let m = h.last();
    let exemplars = &histograms(&m)[0].exemplars;
    assert_eq!(exemplars.len(), 2);
    assert_eq!(exemplars[0].trace_id, vec![1; 16]);
    assert_eq!(exemplars[1].span_id, vec![2; 8]);
    assert_eq!(exemplars[1].time_unix_nano, T0 + 2 * MS);
    // Cumulative points keep their counts but not the last interval's exemplars.
    h.send(request(svc("shop"), vec![])).unwrap();
    assert!(histograms(&h.last())[0].exemplars.is_empty());
    // Off by default.
    let off = harness("metrics_flush_interval: 0s");
    off.send(request(svc("shop"), vec![span("a", MS, vec![])]))
        .unwrap();
    assert!(histograms(&off.last())[0].exemplars.is_empty());
}

#[test]
fn key_attributes_merge_resources_that_differ_elsewhere() {
    let h = harness("metrics_flush_interval: 0s\nresource_metrics_key_attributes: [service.name]");
    let with_pid = |pid| vec![kv("service.name", "shop"), kv("process.pid", pid)];
    h.send(request(with_pid("1"), vec![span("a", MS, vec![])]))
        .unwrap();
    h.send(request(with_pid("2"), vec![span("a", MS, vec![])]))
        .unwrap();
    let m = h.last();
    assert_eq!(m.resource_metrics.len(), 1);
    assert_eq!(value(calls(&m)[0]), 2);
    // Without the key attributes, each pid is its own resource.
    let all = harness("metrics_flush_interval: 0s");
    all.send(request(with_pid("1"), vec![span("a", MS, vec![])]))
        .unwrap();
    all.send(request(with_pid("2"), vec![span("a", MS, vec![])]))
        .unwrap();
    assert_eq!(all.last().resource_metrics.len(), 2);
}

#[test]
fn spans_without_service_name_are_counted_as_dropped() {
    let h = harness("metrics_flush_interval: 0s");
    h.send(request(
        vec![kv("host.name", "x")],
        vec![span("a", MS, vec![]); 4],
    ))
    .unwrap();
    assert!(h.sink.payloads().is_empty());
    let counts = component_counts(&h.metrics, Kind::Connector, "spanmetrics", Signal::Traces);
    assert_eq!((counts.received, counts.dropped), (4, 4));
}

#[test]
fn a_refused_flush_refuses_its_request_and_keeps_nothing_of_it() {
    let h = harness("metrics_flush_interval: 0s");
    h.sink.set_refusing(true);
    let req = request(svc("shop"), vec![span("a", MS, vec![]); 3]);
    assert!(h.send(req.clone()).is_err());
    h.sink.set_refusing(false);
    h.send(req).unwrap();
    assert_eq!(value(calls(&h.last())[0]), 3, "the retry is counted once");
    let counts = component_counts(&h.metrics, Kind::Connector, "spanmetrics", Signal::Traces);
    assert_eq!((counts.received, counts.refused, counts.dropped), (6, 3, 0));
    assert_eq!(counts.sent, 2, "one calls point and one duration point");
}

#[tokio::test(start_paused = true)]
async fn the_timer_emits_every_interval_and_shutdown_emits_the_rest() {
    let h = harness("metrics_flush_interval: 10s");
    h.send(request(svc("shop"), vec![span("a", MS, vec![]); 2]))
        .unwrap();
    assert!(h.sink.payloads().is_empty(), "nothing before the interval");
    tokio::time::sleep(Duration::from_millis(10_001)).await;
    tokio::task::yield_now().await;
    assert_eq!(value(calls(&h.last())[0]), 2);
    // Cumulative series are emitted again on every tick, even without new spans.
    tokio::time::sleep(Duration::from_secs(10)).await;
    tokio::task::yield_now().await;
    assert_eq!(h.sink.payloads().len(), 2);
    h.send(request(svc("shop"), vec![span("a", MS, vec![])]))
        .unwrap();
    h.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(value(calls(&h.last())[0]), 3, "the final flush at shutdown");
    let emitted = h.sink.payloads().len();
    drop(h.connector);
    assert_eq!(h.sink.payloads().len(), emitted, "emitted once at shutdown");
}

#[test]
fn dropping_the_connector_emits_what_is_pending() {
    let h = harness(
        "metrics_flush_interval: 1h\naggregation_temporality: AGGREGATION_TEMPORALITY_DELTA",
    );
    h.send(request(svc("shop"), vec![span("a", MS, vec![])]))
        .unwrap();
    assert!(h.sink.payloads().is_empty());
    let Harness {
        connector, sink, ..
    } = h;
    drop(connector);
    let Some(Payload::Metrics(m)) = sink.payloads().pop() else {
        panic!("the pending delta was emitted")
    };
    assert_eq!(value(calls(&m)[0]), 1);
}

#[test]
fn invalid_configs_name_the_key() {
    let cases = [
        ("dimensions: [{name: span.name}]", "dimensions.0.name"),
        ("exclude_dimensions: [http.method]", "exclude_dimensions.0"),
        ("dimensions_cache_size: 0", "dimensions_cache_size"),
        (
            "histogram: {explicit: {buckets: [2ms]}, exponential: {max_size: 10}}",
            "histogram",
        ),
        (
            "histogram: {explicit: {buckets: [5ms, 2ms]}}",
            "histogram.explicit.buckets",
        ),
        (
            "aggregation_temporality: DELTA",
            "AGGREGATION_TEMPORALITY_DELTA",
        ),
        ("events: {enabled: true}", "events"),
    ];
    for (yaml, key) in cases {
        let errors = SpanMetricsFactory.check(&snippet(yaml)).expect_err(yaml);
        let text = format!("{errors:?}");
        assert!(text.contains(key), "{yaml}: {text}");
    }
    let defaults = SpanMetricsFactory.check(&snippet("")).unwrap();
    assert_eq!(defaults["namespace"], "traces.span.metrics");
    assert_eq!(defaults["metrics_flush_interval"], "1m");
    assert_eq!(defaults["dimensions_cache_size"], 1000);
    assert_eq!(
        defaults["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
}
