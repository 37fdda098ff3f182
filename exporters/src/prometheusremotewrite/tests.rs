use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use prost::Message;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar as OtlpExemplar, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::{ExportError, Exporter, Payload, QueueRecord, RecordBatch, SelfMetrics};
use tokio::net::TcpListener;

use super::prompb::{TimeSeries, WriteRequest};
use super::{RemoteWriteConfig, RemoteWriteExporter};

/// One request as the test server received it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub headers: hyper::HeaderMap,
    pub request: WriteRequest,
}

/// Statuses to answer with, and their `Retry-After`.
type Script = Arc<Mutex<VecDeque<(u16, Option<&'static str>)>>>;

/// A Remote-Write receiver on loopback: decodes every request and answers with the next
/// scripted status (204 once the script is empty).
#[derive(Clone, Default)]
pub(crate) struct RemoteWriteSink {
    pub received: Arc<Mutex<Vec<Received>>>,
    pub script: Script,
}

impl RemoteWriteSink {
    pub async fn start(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let sink = sink.clone();
                        async move { Ok::<_, Infallible>(sink.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let headers = request.headers().clone();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let decoded = WriteRequest::decode(raw.as_slice()).unwrap();
        self.received.lock().unwrap().push(Received {
            headers,
            request: decoded,
        });
        let (status, retry_after) = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((204, None));
        let mut response = Response::builder().status(status);
        if let Some(after) = retry_after {
            response = response.header("retry-after", after);
        }
        response
            .body(Full::new(Bytes::from_static(b"scripted")))
            .unwrap()
    }

    pub fn series(&self) -> Vec<TimeSeries> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.request.timeseries.clone())
            .collect()
    }
}

pub(crate) fn name_of(series: &TimeSeries) -> &str {
    label(series, "__name__").unwrap_or_default()
}

pub(crate) fn label<'a>(series: &'a TimeSeries, name: &str) -> Option<&'a str> {
    series
        .labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn number(value: f64, time_ms: u64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: time_ms * 1_000_000,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// One resource (`svc`, with a `host.name`) holding `metrics`.
pub(crate) fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    string("service.name", "svc"),
                    string("service.instance.id", "i-1"),
                    string("host.name", "box"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub(crate) fn delta_counter(name: &str, unit: &str, value: f64, time_ms: u64) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![number(value, time_ms, vec![string("route", "/a")])],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn config(endpoint: &str) -> RemoteWriteConfig {
    let yaml = format!("endpoint: {endpoint}\nexternal_labels: {{cluster: test}}\n");
    let node = sentinel_pipeline::config::parse_yaml("t.yaml", &yaml)
        .unwrap()
        .unwrap();
    sentinel_pipeline::config::decode_valid(&node).unwrap()
}

async fn exporter(sink: &RemoteWriteSink) -> RemoteWriteExporter {
    let addr = sink.start().await;
    RemoteWriteExporter::new(
        &config(&format!("http://{addr}/api/v1/write")),
        "prometheusremotewrite",
        &SelfMetrics::new(),
    )
    .unwrap()
}

#[tokio::test]
async fn requests_are_snappy_protobuf_with_collector_names_and_labels() {
    let sink = RemoteWriteSink::default();
    let rw = exporter(&sink).await;
    let histogram = Metric {
        name: "http.server.duration".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: 1_000 * 1_000_000,
                count: 3,
                sum: Some(17.0),
                bucket_counts: vec![1, 2, 0],
                explicit_bounds: vec![5.0, 10.0],
                exemplars: vec![OtlpExemplar {
                    time_unix_nano: 999 * 1_000_000,
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    value: Some(exemplar::Value::AsDouble(7.5)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let gauge = Metric {
        name: "cpu.utilization".into(),
        unit: "1".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![number(0.25, 1_000, vec![])],
        })),
        ..Default::default()
    };
    let metrics = vec![
        histogram,
        gauge,
        delta_counter("requests", "{request}", 2.0, 1_000),
    ];
    rw.export(Payload::Metrics(request(metrics))).await.unwrap();
    rw.export(Payload::Metrics(request(vec![delta_counter(
        "requests",
        "{request}",
        3.0,
        2_000,
    )])))
    .await
    .unwrap();

    let received = sink.received.lock().unwrap().clone();
    let headers = &received[0].headers;
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    let series = sink.series();
    for s in &series {
        let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "labels must be sorted");
        assert_eq!(label(s, "cluster"), Some("test"), "external label");
    }
    let find = |name: &str, extra: Option<(&str, &str)>| -> Vec<&TimeSeries> {
        series
            .iter()
            .filter(|s| name_of(s) == name && extra.is_none_or(|(k, v)| label(s, k) == Some(v)))
            .collect()
    };
    // Gauge of unit 1 → _ratio; job and instance from the resource.
    let ratio = find("cpu_utilization_ratio", None);
    assert_eq!(ratio.len(), 1);
    assert_eq!(ratio[0].samples[0].value, 0.25);
    assert_eq!(ratio[0].samples[0].timestamp, 1_000);
    assert_eq!(label(ratio[0], "job"), Some("svc"));
    assert_eq!(label(ratio[0], "instance"), Some("i-1"));
    // Delta counter accumulated: 2, then 5.
    let counter: Vec<f64> = find("requests_total", None)
        .iter()
        .map(|s| s.samples[0].value)
        .collect();
    assert_eq!(counter, vec![2.0, 5.0]);
    // Histogram buckets cumulative, with the exemplar on the bucket it falls in (le=10).
    let bucket = |le| find("http_server_duration_milliseconds_bucket", Some(("le", le)));
    assert_eq!(bucket("5")[0].samples[0].value, 1.0);
    assert_eq!(bucket("10")[0].samples[0].value, 3.0);
    assert_eq!(bucket("+Inf")[0].samples[0].value, 3.0);
    assert!(bucket("5")[0].exemplars.is_empty());
    let exemplar = &bucket("10")[0].exemplars[0];
    assert_eq!(exemplar.value, 7.5);
    assert_eq!(exemplar.timestamp, 999);
    assert_eq!(exemplar.labels[0].name, "span_id");
    assert_eq!(exemplar.labels[1].value, "ab".repeat(16));
    assert_eq!(
        find("http_server_duration_milliseconds_sum", None)[0].samples[0].value,
        17.0
    );
    assert_eq!(
        find("http_server_duration_milliseconds_count", None)[0].samples[0].value,
        3.0
    );
    // target_info with the non-identifying resource attributes.
    let info = find("target_info", None);
    assert_eq!(info.len(), 2, "one per resource per request");
    assert_eq!(label(info[0], "host_name"), Some("box"));
    assert_eq!(label(info[0], "job"), Some("svc"));
    assert_eq!(label(info[0], "service_name"), None);
    // Metadata names each family once per request.
    let families: Vec<&str> = received[0]
        .request
        .metadata
        .iter()
        .map(|m| m.metric_family_name.as_str())
        .collect();
    assert_eq!(
        families,
        vec![
            "http_server_duration_milliseconds",
            "cpu_utilization_ratio",
            "requests_total"
        ]
    );
}

#[tokio::test]
async fn status_codes_decide_between_retry_and_dead_letter() {
    let sink = RemoteWriteSink::default();
    let rw = exporter(&sink).await;
    sink.script.lock().unwrap().extend([
        (429, Some("7")),
        (503, None),
        (500, None),
        (400, None),
        (404, None),
    ]);
    let payload = || Payload::Metrics(request(vec![delta_counter("c", "", 1.0, 1_000)]));
    match rw.export(payload()).await {
        Err(ExportError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    for _ in 0..2 {
        assert!(matches!(
            rw.export(payload()).await,
            Err(ExportError::Retryable { .. })
        ));
    }
    for _ in 0..2 {
        assert!(matches!(
            rw.export(payload()).await,
            Err(ExportError::Permanent { .. })
        ));
    }
    rw.export(payload()).await.unwrap();
}

/// A record retried after a 503 is sent again as it was converted, not folded in twice.
#[tokio::test]
async fn a_retried_record_does_not_add_its_deltas_twice() {
    let sink = RemoteWriteSink::default();
    let rw = exporter(&sink).await;
    sink.script.lock().unwrap().push_back((503, None));
    let batch = |seq, value, time| RecordBatch {
        queue_id: 1,
        records: vec![QueueRecord {
            seq,
            payload: Payload::Metrics(request(vec![delta_counter("c", "", value, time)])),
        }],
    };
    assert!(rw.export_records(batch(1, 4.0, 1_000)).await.is_err());
    rw.export_records(batch(1, 4.0, 1_000)).await.unwrap();
    rw.export_records(batch(2, 1.0, 2_000)).await.unwrap();
    let values: Vec<f64> = sink
        .series()
        .iter()
        .filter(|s| name_of(s) == "c_total")
        .map(|s| s.samples[0].value)
        .collect();
    assert_eq!(values, vec![4.0, 4.0, 5.0]);
    assert!(rw.pending.lock().unwrap().converted.is_empty());
}

/// Through the real sending queue: a 503 (then 429 with Retry-After: 0) is retried until
/// the store takes the record; a 400 sends the record to the dead-letter file at once.
#[tokio::test]
async fn the_queue_retries_5xx_and_429_and_dead_letters_other_4xx() {
    use crate::sending::{dead_letter_path, start_queue, QueueContext};
    use sentinel_pipeline::{BuiltExporter, Message, Signal};

    let sink = RemoteWriteSink::default();
    let addr = sink.start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&format!("http://{addr}/api/v1/write"));
    config.retry_on_failure.initial_interval = Duration::from_millis(10);
    config.retry_on_failure.max_interval = Duration::from_millis(20);
    let metrics = SelfMetrics::new();
    let built = BuiltExporter {
        exporter: Arc::new(RemoteWriteExporter::new(&config, "prw", &metrics).unwrap()),
        queue: config.sending_queue.clone(),
        retry: config.retry_on_failure.clone(),
    };
    let context = QueueContext {
        id: "prw".into(),
        metrics: metrics.clone(),
        data_dir: dir.path().to_path_buf(),
    };
    let (consumer, handle) = start_queue(context, built, &[Signal::Metrics]).unwrap();
    sink.script
        .lock()
        .unwrap()
        .extend([(503, None), (429, Some("0")), (204, None), (400, None)]);
    let send = |value| {
        let payload = Payload::Metrics(request(vec![delta_counter("c", "", value, 1_000)]));
        consumer.consume(Message::unacked(payload)).unwrap();
    };
    send(1.0);
    let arrived = |n: usize| {
        let sink = sink.clone();
        async move {
            for _ in 0..200 {
                if sink.received.lock().unwrap().len() >= n {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    };
    assert!(arrived(3).await, "retried until accepted");
    send(2.0);
    assert!(arrived(4).await);
    let letters = dead_letter_path(dir.path(), "prw", &config.sending_queue);
    let mut written = String::new();
    for _ in 0..200 {
        written = std::fs::read_to_string(&letters).unwrap_or_default();
        if !written.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(written.lines().count(), 1, "{written}");
    assert!(written.contains("400"), "{written}");
    handle
        .drain(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    let text = metrics.encode();
    assert!(
        text.contains("queue_retries_total{component_id=\"prw\"} 2"),
        "{text}"
    );
}
