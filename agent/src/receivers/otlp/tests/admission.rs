//! Admission before decoding: a full path, the per-request limits, the decoded size and
//! bodies in flight, against the real servers on loopback.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message as _;
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::{Refusal, Signal};
use tokio::io::AsyncWriteExt;
use tonic::Code;

use super::super::RequestLimits;
use super::grpc::{grpc_frame, grpc_status, trace_client};
use super::support::*;

const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[tokio::test]
async fn a_full_path_refuses_before_the_body_is_decoded() {
    let harness = Harness::start(Mode::Full(Refusal::capacity("exporter queue full"))).await;
    // Garbage would be a 400 if it were decoded: a 429 says it never was.
    let reply = post_protobuf(harness.http(), "/v1/traces", vec![0xff; 4096]).await;
    assert_eq!(reply.status, 429);
    assert!(reply.headers.contains_key("retry-after"));
    let headers = [("content-type", "application/grpc"), ("te", "trailers")];
    let grpc = harness.bound.grpc.unwrap();
    let (_, headers, _, trailers) =
        h2_request(grpc, TRACES_PATH, &headers, grpc_frame(&[0xff; 4096])).await;
    assert_eq!(
        grpc_status(&headers, &trailers),
        Code::ResourceExhausted as i32
    );
    assert_eq!(harness.bad_requests("malformed_protobuf"), 0);
    assert!(harness.recorder.payloads().is_empty());
}

fn limited(limits: RequestLimits) -> super::super::OtlpReceiverConfig {
    let mut config = config_on_free_ports(1024 * 1024, 4);
    config.limits = limits;
    config
}

#[tokio::test]
async fn requests_over_a_limit_are_refused_with_the_limit_named() {
    let limits = RequestLimits {
        max_items_per_request: 10,
        max_attributes_per_item: 3,
        max_value_depth: 32,
    };
    let harness = Harness::start_with(limited(limits), &[Signal::Traces], Mode::Accept, None).await;
    let reply = post_protobuf(harness.http(), "/v1/traces", traces(11).encode_to_vec()).await;
    assert_eq!(reply.status, 413);
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    assert!(text.contains("more than 10 spans"), "{text}");

    let status = trace_client(&harness)
        .await
        .export(traces(11))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("more than 10 spans"),
        "{status:?}"
    );

    let mut wide = traces(1);
    let attribute = KeyValue {
        key: "k".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(1)),
        }),
        ..Default::default()
    };
    wide.resource_spans[0].scope_spans[0].spans[0].attributes = vec![attribute; 4];
    let json = serde_json::to_vec(&wide).unwrap();
    let headers = [("content-type", "application/json")];
    let reply = http_request(harness.http(), "POST", "/v1/traces", &headers, json).await;
    assert_eq!(reply.status, 400);

    assert_eq!(harness.bad_requests("over_limit"), 3);
    assert!(harness.recorder.payloads().is_empty());
    // Within the limits, served.
    let reply = post_protobuf(harness.http(), "/v1/traces", traces(10).encode_to_vec()).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_request_that_would_inflate_past_the_budget_is_refused_undecoded() {
    // 5000 spans: a small body, but decoded far more than the whole budget.
    let body = traces(5000).encode_to_vec();
    let budget = MemoryBudget::new("memory_limiter", body.len() * 3);
    let config = config_on_free_ports(1024 * 1024, 4);
    let harness = Harness::start_with(
        config,
        &[Signal::Traces],
        Mode::Accept,
        Some(budget.clone()),
    )
    .await;
    let reply = post_protobuf(harness.http(), "/v1/traces", body).await;
    assert_eq!(reply.status, 413);
    assert!(String::from_utf8_lossy(&reply.body).contains("decoded"));
    assert!(harness.recorder.payloads().is_empty());
    assert_eq!(budget.used(), 0);
}

#[tokio::test]
async fn a_stalled_body_holds_budget_and_later_requests_are_refused() {
    let budget = MemoryBudget::new("memory_limiter", 100_000);
    let config = config_on_free_ports(1024 * 1024, 4);
    let harness = Harness::start_with(
        config,
        &[Signal::Traces],
        Mode::Accept,
        Some(budget.clone()),
    )
    .await;
    // A chunked upload that sends 90 kB and then stalls.
    let mut stalled = tokio::net::TcpStream::connect(harness.http())
        .await
        .unwrap();
    let head = "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
                transfer-encoding: chunked\r\n\r\n";
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled
        .write_all(format!("{:x}\r\n", 90_000).as_bytes())
        .await
        .unwrap();
    stalled.write_all(&vec![0x0a; 90_000]).await.unwrap();
    stalled.flush().await.unwrap();
    tokio::time::timeout(PATIENCE, async {
        while budget.used() < 90_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the stalled body is charged as it arrives");

    let reply = post_protobuf(harness.http(), "/v1/traces", traces(200).encode_to_vec()).await;
    assert_eq!(reply.status, 429, "the budget is held by the stalled body");
    drop(stalled);
    tokio::time::timeout(PATIENCE, async {
        while budget.used() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("released when the connection goes");
    let reply = post_protobuf(harness.http(), "/v1/traces", traces(2).encode_to_vec()).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn unfinished_grpc_messages_are_charged_across_streams() {
    let budget = MemoryBudget::new("memory_limiter", 100_000);
    let config = config_on_free_ports(1024 * 1024, 4);
    let harness = Harness::start_with(
        config,
        &[Signal::Traces],
        Mode::Accept,
        Some(budget.clone()),
    )
    .await;
    let grpc = harness.bound.grpc.unwrap();
    // Three streams each announce a 1 MiB message and send 40 kB of it.
    let mut senders = Vec::new();
    for _ in 0..3 {
        let stream = tokio::net::TcpStream::connect(grpc).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let mut head = vec![0u8];
        head.extend_from_slice(&(1024u32 * 1024).to_be_bytes());
        head.extend_from_slice(&[0x0a; 40_000]);
        let request = hyper::Request::post(format!("http://{grpc}{TRACES_PATH}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Stalling(Some(head.into())))
            .unwrap();
        let response = tokio::spawn(async move { sender.send_request(request).await });
        senders.push(response);
    }
    tokio::time::timeout(PATIENCE, async {
        while budget.used() < 80_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("unfinished messages are charged");
    let status = trace_client(&harness)
        .await
        .export(traces(200))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    for response in senders {
        response.abort();
    }
    tokio::time::timeout(PATIENCE, async {
        while budget.used() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("released when the streams go");
}

/// A request body that sends its first bytes and then never more.
struct Stalling(Option<bytes::Bytes>);

impl hyper::body::Body for Stalling {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        match self.0.take() {
            Some(data) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(data)))),
            None => std::task::Poll::Pending,
        }
    }
}
