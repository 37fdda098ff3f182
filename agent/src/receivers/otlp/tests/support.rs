//! Test scaffolding: a recording consumer, a started receiver, small clients.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::config::{Endpoint, Node, NodeValue, Span as ConfigSpan};
use sentinel_pipeline::testing::{component_counts, ComponentCounts};
use sentinel_pipeline::{
    BuildContext, Consumer, EncodedMessage, Fanout, Kind, Message, Output, Outputs, Payload,
    Refusal, Running, SelfMetrics, Signal,
};
use tokio_util::sync::CancellationToken;

use super::super::{
    BoundAddresses, GrpcConfig, HttpConfig, OtlpReceiver, OtlpReceiverConfig, Protocols,
};

pub const ID: &str = "otlp/test";
/// Upper bound for anything a test waits on, so a bug fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What the fake pipeline does with a message.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Keeps the payload and drops the acks: the client is told "accepted".
    Accept,
    /// Refuses at hand-off, as a full pipeline channel does.
    RefuseSend(Refusal),
    /// Takes the message, then refuses its acks, as a full exporter queue does.
    RefuseAck(Refusal),
    /// Keeps the whole message (acks included) until [`Recorder::release`].
    Hold,
    /// Says it has no room when probed, and refuses at hand-off too.
    Full(Refusal),
}

/// A consumer that records what it is given.
pub struct Recorder {
    mode: Mutex<Mode>,
    payloads: Mutex<Vec<Payload>>,
    held: Mutex<Vec<Message>>,
    /// Takes requests still encoded, as a processor-less path to protobuf exporters does.
    keeps_encoded: AtomicBool,
    /// Requests that arrived still encoded.
    encoded: AtomicUsize,
}

impl Recorder {
    pub fn new(mode: Mode) -> Arc<Recorder> {
        Arc::new(Recorder {
            mode: Mutex::new(mode),
            payloads: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            keeps_encoded: AtomicBool::new(false),
            encoded: AtomicUsize::new(0),
        })
    }

    pub fn keep_encoded(&self) {
        self.keeps_encoded.store(true, Ordering::SeqCst);
    }

    /// Requests handed on still encoded (each is also recorded decoded in `payloads`).
    pub fn encoded(&self) -> usize {
        self.encoded.load(Ordering::SeqCst)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn payloads(&self) -> Vec<Payload> {
        self.payloads.lock().unwrap().clone()
    }

    pub fn held_count(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Drops held messages, which accepts them.
    pub fn release(&self) {
        self.held.lock().unwrap().clear();
    }

    pub async fn wait_for_held(&self, count: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.held_count() < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the receiver never handed the message on");
    }
}

impl Consumer for Recorder {
    fn has_room(&self, _bytes: usize) -> Result<(), Refusal> {
        match &*self.mode.lock().unwrap() {
            Mode::Full(refusal) => Err(refusal.clone()),
            _ => Ok(()),
        }
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        let mode = self.mode.lock().unwrap().clone();
        match mode {
            Mode::Full(refusal) => Err(refusal),
            Mode::Accept => {
                self.payloads.lock().unwrap().push(msg.payload);
                Ok(())
            }
            Mode::RefuseSend(refusal) => Err(refusal),
            Mode::RefuseAck(refusal) => {
                self.payloads.lock().unwrap().push(msg.payload.clone());
                msg.acks.refuse(&refusal);
                Ok(())
            }
            Mode::Hold => {
                self.payloads.lock().unwrap().push(msg.payload.clone());
                self.held.lock().unwrap().push(msg);
                Ok(())
            }
        }
    }

    fn takes_encoded(&self, _signal: Signal) -> bool {
        self.keeps_encoded.load(Ordering::SeqCst)
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        self.encoded.fetch_add(1, Ordering::SeqCst);
        let msg = msg
            .decode()
            .expect("the receiver forwards only what decodes");
        self.consume(msg)
    }
}

/// The receiver's counts after `items` items were accepted and handed on.
pub fn accepted_counts(items: u64) -> ComponentCounts {
    ComponentCounts {
        received: items,
        sent: items,
        ..Default::default()
    }
}

/// A started receiver wired to one recorder for the given signals.
pub struct Harness {
    pub metrics: Arc<SelfMetrics>,
    pub shutdown: CancellationToken,
    pub bound: BoundAddresses,
    pub running: Option<Running>,
    pub recorder: Arc<Recorder>,
}

pub fn endpoint(text: &str) -> Endpoint {
    Endpoint::new(text).unwrap()
}

/// Both protocols on free loopback ports.
pub fn config_on_free_ports(max_body: u64, max_grpc_mib: u64) -> OtlpReceiverConfig {
    OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcConfig {
                endpoint: endpoint("127.0.0.1:0"),
                max_recv_msg_size_mib: max_grpc_mib,
                ..GrpcConfig::default()
            }),
            http: Some(HttpConfig {
                endpoint: endpoint("127.0.0.1:0"),
                max_request_body_size: max_body,
                ..HttpConfig::default()
            }),
        },
        limits: Default::default(),
    }
}

pub fn context(metrics: &Arc<SelfMetrics>, shutdown: &CancellationToken) -> BuildContext {
    BuildContext {
        id: ID.to_string(),
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
        data_dir: std::env::temp_dir(),
    }
}

impl Harness {
    pub async fn start(mode: Mode) -> Harness {
        Harness::start_with(
            config_on_free_ports(1024 * 1024, 4),
            &Signal::ALL,
            mode,
            None,
        )
        .await
    }

    pub async fn start_with(
        config: OtlpReceiverConfig,
        signals: &[Signal],
        mode: Mode,
        budget: Option<Arc<MemoryBudget>>,
    ) -> Harness {
        let metrics = SelfMetrics::new();
        let shutdown = CancellationToken::new();
        let recorder = Recorder::new(mode);
        let outputs: Outputs = signals
            .iter()
            .map(|signal| {
                let consumer: Arc<dyn Consumer> = recorder.clone();
                let output = Output {
                    fanout: Fanout::new(vec![consumer]),
                    budgets: budget.iter().cloned().collect(),
                };
                (*signal, output)
            })
            .collect();
        let receiver = OtlpReceiver::new(config, context(&metrics, &shutdown));
        let (bound, running) = receiver.listen(outputs).await.expect("receiver starts");
        Harness {
            metrics,
            shutdown,
            bound,
            running: Some(running),
            recorder,
        }
    }

    pub fn http(&self) -> std::net::SocketAddr {
        self.bound.http.expect("http is enabled")
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.bound.grpc.expect("grpc is enabled"))
    }

    pub fn counts(&self, signal: Signal) -> ComponentCounts {
        component_counts(&self.metrics, Kind::Receiver, ID, signal)
    }

    /// `sentinel_receiver_bad_requests_total` for this receiver and `reason`.
    pub fn bad_requests(&self, reason: &str) -> u64 {
        let text = self.metrics.encode();
        let wanted = format!("component_id=\"{ID}\"");
        let wanted_reason = format!("reason=\"{reason}\"");
        text.lines()
            .filter(|l| l.starts_with("sentinel_receiver_bad_requests_total{"))
            .filter(|l| l.contains(&wanted) && l.contains(&wanted_reason))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .next()
            .unwrap_or_else(|| panic!("no bad-request series for {reason}:\n{text}"))
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response read back whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One HTTP/1.1 POST (or any method) on a fresh connection.
pub async fn http_request(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    tokio::time::timeout(PATIENCE, async {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{address}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    })
    .await
    .expect("HTTP request timed out")
}

pub async fn post_protobuf(address: std::net::SocketAddr, path: &str, body: Vec<u8>) -> Reply {
    http_request(
        address,
        "POST",
        path,
        &[("content-type", "application/x-protobuf")],
        body,
    )
    .await
}

/// One HTTP/2 (prior knowledge) request, returning status, body and trailers.
pub async fn h2_request(
    address: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Bytes, Option<HeaderMap>) {
    tokio::time::timeout(PATIENCE, async {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method("POST")
            .uri(format!("http://{address}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned();
        (status, headers, collected.to_bytes(), trailers)
    })
    .await
    .expect("HTTP/2 request timed out")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A trace request with `count` valid spans under one resource.
pub fn traces(count: usize) -> ExportTraceServiceRequest {
    let spans = (0..count)
        .map(|i| Span {
            trace_id: vec![0x5b; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("span-{i}"),
            kind: 2,
            start_time_unix_nano: 1_544_712_660_000_000_000,
            end_time_unix_nano: 1_544_712_661_000_000_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("checkout".into())),
                    }),
                    ..Default::default()
                }],
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

/// A config node built from JSON, as the YAML loader would produce it.
pub fn node(value: serde_json::Value) -> Node {
    let span = ConfigSpan::new("test.yaml", 1, 1);
    let value = match value {
        serde_json::Value::Null => NodeValue::Null,
        serde_json::Value::Bool(b) => NodeValue::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => NodeValue::Int(i),
            None => NodeValue::Float(n.as_f64().unwrap()),
        },
        serde_json::Value::String(s) => NodeValue::String(s),
        serde_json::Value::Array(items) => NodeValue::Seq(items.into_iter().map(node).collect()),
        serde_json::Value::Object(entries) => NodeValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| (node(serde_json::Value::String(k)), node(v)))
                .collect(),
        ),
    };
    Node::new(value, span)
}
