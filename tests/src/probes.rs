//! The hostile-input memory probes of issue 21 item 2, against a running agent's OTLP
//! ports: inflating requests (9 million empty spans in 18 MB, 2 million in 4 MB over
//! gRPC, one span with a million attributes), 50 stalled 19 MiB uploads, 300 unfinished
//! gRPC messages, deep nesting and compression bombs. Shared by the end-to-end test
//! (`tests/hostile_input.rs`) and `tests/bench/probes.sh` (bin `probes`), which measure
//! the agent's peak RSS while each probe runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};

mod build;
mod measure;

pub use build::{deep_json, deep_protobuf, empty_spans, many_attributes, normal_traces};
pub use measure::{measure, Measured, Process};

const MIB: usize = 1024 * 1024;

/// The agent's OTLP listeners.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    EmptySpans18Mb,
    EmptySpans4MbGrpc,
    MillionAttributes,
    StalledUploads,
    UnfinishedGrpcStreams,
    DeepNesting,
    CompressionBombs,
}

/// What a probe left running (stalled connections); dropping it ends them.
pub struct Held {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Held {
    fn none() -> Held {
        Held {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            runtime: None,
        }
    }
}

impl Probe {
    pub const ALL: [Probe; 7] = [
        Probe::EmptySpans18Mb,
        Probe::EmptySpans4MbGrpc,
        Probe::MillionAttributes,
        Probe::StalledUploads,
        Probe::UnfinishedGrpcStreams,
        Probe::DeepNesting,
        Probe::CompressionBombs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Probe::EmptySpans18Mb => "9M empty spans, 18 MB, HTTP",
            Probe::EmptySpans4MbGrpc => "2M empty spans, 4 MB, gRPC",
            Probe::MillionAttributes => "1M attributes in a 9 MB span",
            Probe::StalledUploads => "50 stalled 19 MiB uploads",
            Probe::UnfinishedGrpcStreams => "300 unfinished gRPC messages",
            Probe::DeepNesting => "deep nesting, protobuf + JSON",
            Probe::CompressionBombs => "gzip + zstd bombs x8",
        }
    }

    /// Runs the probe; returns the statuses the agent answered (HTTP status or gRPC
    /// code, `0` for none) and what stays open until dropped.
    pub fn run(self, target: Target) -> (Vec<u32>, Held) {
        match self {
            Probe::EmptySpans18Mb => {
                let body = empty_spans(9_000_000);
                (vec![post(target.http, &body, &[])], Held::none())
            }
            Probe::EmptySpans4MbGrpc => (
                vec![grpc_unary(target.grpc, &empty_spans(2_000_000))],
                Held::none(),
            ),
            Probe::MillionAttributes => {
                let body = many_attributes(1_000_000);
                (vec![post(target.http, &body, &[])], Held::none())
            }
            Probe::StalledUploads => stalled_uploads(target.http, 50, 19 * MIB),
            Probe::UnfinishedGrpcStreams => unfinished_streams(target.grpc, 300, 4 * MIB - 64),
            Probe::DeepNesting => {
                let protobuf = post(target.http, &deep_protobuf(5000), &[]);
                let json = post_json(target.http, deep_json(20_000).as_bytes());
                (vec![protobuf, json], Held::none())
            }
            Probe::CompressionBombs => (compression_bombs(target.http), Held::none()),
        }
    }
}

/// A small request over HTTP and gRPC: both must be accepted.
pub fn normal_client_served(target: Target) -> bool {
    let body = normal_traces();
    post(target.http, &body, &[]) == 200 && grpc_unary(target.grpc, &body) == 0
}

/// Peak and current resident memory of a process, in bytes (`VmHWM`, `VmRSS`).
pub fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One HTTP/1.1 POST of a protobuf body; the response's status (0: no answer).
pub fn post(address: SocketAddr, body: &[u8], headers: &[(&str, &str)]) -> u32 {
    let mut extra = String::from("content-type: application/x-protobuf\r\n");
    for (name, value) in headers {
        extra.push_str(&format!("{name}: {value}\r\n"));
    }
    raw_post(address, &extra, body)
}

fn post_json(address: SocketAddr, body: &[u8]) -> u32 {
    raw_post(address, "content-type: application/json\r\n", body)
}

fn raw_post(address: SocketAddr, headers: &str, body: &[u8]) -> u32 {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: probe\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    // The agent may answer before reading the whole body and close: keep the answer.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    read_status(&mut stream)
}

fn read_status(stream: &mut TcpStream) -> u32 {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn stalled_uploads(address: SocketAddr, count: usize, size: usize) -> (Vec<u32>, Held) {
    let stop = Arc::new(AtomicBool::new(false));
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let threads = (0..count)
        .map(|_| {
            let stop = stop.clone();
            let sent = sent_tx.clone();
            std::thread::spawn(move || {
                let Ok(mut stream) = TcpStream::connect(address) else {
                    let _ = sent.send(0);
                    return;
                };
                let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                let head = format!(
                    "POST /v1/traces HTTP/1.1\r\nhost: probe\r\ncontent-type: application/x-protobuf\r\ncontent-length: {size}\r\n\r\n"
                );
                let chunk = vec![0x0a_u8; MIB];
                let mut ok = stream.write_all(head.as_bytes()).is_ok();
                let mut written = 0;
                while ok && written + MIB < size {
                    ok = stream.write_all(&chunk).is_ok();
                    written += MIB;
                }
                let _ = sent.send(written);
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    let sent: Vec<u32> = (0..count)
        .map(|_| (sent_rx.recv().unwrap_or(0) / MIB) as u32)
        .collect();
    let held = Held {
        stop,
        threads,
        runtime: None,
    };
    (sent, held)
}

fn compression_bombs(address: SocketAddr) -> Vec<u32> {
    let zeros = vec![0u8; 64 * MIB];
    let zstd = zstd::encode_all(&zeros[..], 3).expect("zstd");
    let gzip = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&zeros).expect("gzip");
        encoder.finish().expect("gzip")
    };
    drop(zeros);
    let bombs = [(gzip, "gzip"), (zstd, "zstd")];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .flat_map(|_| bombs.iter())
            .map(|(body, encoding)| {
                scope.spawn(move || post(address, body, &[("content-encoding", encoding)]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    })
}

/// One gRPC `Export` over HTTP/2; the `grpc-status` (0 OK), or 99 with no answer.
pub fn grpc_unary(address: SocketAddr, message: &[u8]) -> u32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let frame = grpc_frame(message.len(), message);
    runtime.block_on(async move {
        let Some(mut sender) = h2_sender(address).await else {
            return 99;
        };
        let request = grpc_request(address, Frames::whole(frame));
        let Ok(response) = sender.send_request(request).await else {
            return 99;
        };
        grpc_status(response).await
    })
}

fn grpc_frame(announced: usize, message: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(&(announced as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame.into()
}

fn grpc_request(address: SocketAddr, body: Frames) -> hyper::Request<Frames> {
    hyper::Request::post(format!(
        "http://{address}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(body)
    .expect("request")
}

async fn h2_sender(address: SocketAddr) -> Option<hyper::client::conn::http2::SendRequest<Frames>> {
    let stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

async fn grpc_status(response: hyper::Response<hyper::body::Incoming>) -> u32 {
    use http_body_util::BodyExt;
    let headers = response.headers().clone();
    let trailers = response
        .into_body()
        .collect()
        .await
        .ok()
        .and_then(|c| c.trailers().cloned());
    trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(99)
}

/// `count` streams, each announcing a message of `size` bytes and sending all of it
/// but the last 64 bytes, then stalling.
fn unfinished_streams(address: SocketAddr, count: usize, size: usize) -> (Vec<u32>, Held) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let statuses = runtime.block_on(async move {
        let mut senders = Vec::new();
        for _ in 0..count.div_ceil(50) {
            senders.extend(h2_sender(address).await);
        }
        let mut answers = Vec::new();
        for i in 0..count {
            let connections = senders.len().max(1);
            let Some(sender) = senders.get_mut(i % connections) else {
                break;
            };
            let head = grpc_frame(size, &[]);
            let body = Frames::stalling(head, size - 64);
            let request = grpc_request(address, body);
            let response = sender.send_request(request);
            answers.push(tokio::spawn(async move {
                match response.await {
                    Ok(response) => grpc_status(response).await,
                    Err(_) => 99,
                }
            }));
        }
        // Give the streams time to send what they will, then see who was answered.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let answered = answers.iter().filter(|a| a.is_finished()).count() as u32;
        // The connections stay open until the runtime goes (when `Held` drops).
        tokio::spawn(async move {
            let _open = senders;
            std::future::pending::<()>().await
        });
        vec![answered, count as u32 - answered]
    });
    let mut held = Held::none();
    held.runtime = Some(runtime);
    (statuses, held)
}

/// A request body: whole frames, or a head and `fill` bytes of zeros in 64 KiB pieces
/// after which it never ends.
pub struct Frames {
    head: Option<Bytes>,
    fill: usize,
    stall: bool,
}

impl Frames {
    fn whole(body: Bytes) -> Frames {
        Frames {
            head: Some(body),
            fill: 0,
            stall: false,
        }
    }

    fn stalling(head: Bytes, fill: usize) -> Frames {
        Frames {
            head: Some(head),
            fill,
            stall: true,
        }
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if self.fill > 0 {
            let n = self.fill.min(64 * 1024);
            self.fill -= n;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![0x0a; n])))));
        }
        if self.stall {
            Poll::Pending
        } else {
            Poll::Ready(None)
        }
    }
}
