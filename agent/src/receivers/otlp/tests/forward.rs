//! Requests handed on still encoded when the path keeps them so (no processor, protobuf
//! exporters), and decoded whenever anything about them needs it.

use prost::Message as _;
use sentinel_pipeline::{Payload, Signal};
use tonic::Code;

use super::grpc::trace_client;
use super::support::*;

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");

async fn keeping_encoded() -> Harness {
    let harness = Harness::start(Mode::Accept).await;
    harness.recorder.keep_encoded();
    harness
}

#[tokio::test]
async fn valid_protobuf_is_handed_on_as_received_over_grpc_and_http() {
    let harness = keeping_encoded().await;
    let request = traces(4);
    let reply = post_protobuf(harness.http(), "/v1/traces", request.encode_to_vec()).await;
    assert_eq!(reply.status, 200);
    let gzipped = gzip(&request.encode_to_vec());
    let headers = [PROTOBUF, ("content-encoding", "gzip")];
    let reply = http_request(harness.http(), "POST", "/v1/traces", &headers, gzipped).await;
    assert_eq!(reply.status, 200);
    let response = trace_client(&harness)
        .await
        .export(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.partial_success, None);

    assert_eq!(
        harness.recorder.encoded(),
        3,
        "none of them was decoded first"
    );
    assert_eq!(
        harness.recorder.payloads(),
        vec![Payload::Traces(request); 3],
        "the bytes handed on decode to what was sent"
    );
    assert_eq!(harness.counts(Signal::Traces), accepted_counts(12));
}

#[tokio::test]
async fn invalid_ids_take_the_decoding_path_and_are_rejected_as_partial_success() {
    let harness = keeping_encoded().await;
    let mut request = traces(3);
    request.resource_spans[0].scope_spans[0].spans[1].span_id = vec![1, 2, 3];
    let response = trace_client(&harness)
        .await
        .export(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.partial_success.unwrap().rejected_spans, 1);
    assert_eq!(harness.recorder.encoded(), 0);
    let Payload::Traces(delivered) = &harness.recorder.payloads()[0] else {
        panic!("traces expected")
    };
    assert_eq!(delivered.resource_spans[0].scope_spans[0].spans.len(), 2);
}

/// A span name that is not UTF-8: prost refuses it, so the receiver must too.
fn invalid_utf8_traces() -> Vec<u8> {
    let mut request = traces(1);
    request.resource_spans[0].scope_spans[0].spans[0].name = "\u{1}\u{1}\u{1}".into();
    let mut bytes = request.encode_to_vec();
    let at = bytes
        .windows(3)
        .position(|w| w == [1, 1, 1])
        .expect("the name is in the bytes");
    bytes[at] = 0xff;
    bytes
}

#[tokio::test]
async fn bytes_prost_would_refuse_are_refused_not_forwarded() {
    let harness = keeping_encoded().await;
    let reply = post_protobuf(harness.http(), "/v1/traces", invalid_utf8_traces()).await;
    assert_eq!(reply.status, 400);
    let request =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            invalid_utf8_traces().as_slice(),
        );
    assert!(request.is_err(), "the test bytes are invalid to prost");
    let status = h2_grpc_export(&harness, invalid_utf8_traces()).await;
    assert_eq!(status, Some(Code::InvalidArgument as i32));
    assert_eq!(harness.recorder.encoded(), 0);
    assert!(harness.recorder.payloads().is_empty());
}

#[tokio::test]
async fn json_is_always_decoded() {
    let harness = keeping_encoded().await;
    let body = serde_json::to_vec(&traces(2)).unwrap();
    let headers = [("content-type", "application/json")];
    let reply = http_request(harness.http(), "POST", "/v1/traces", &headers, body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(harness.recorder.encoded(), 0);
    assert_eq!(harness.recorder.payloads().len(), 1);
}

/// A raw gRPC export of `body` (framed by hand, so it may be invalid); the grpc-status.
async fn h2_grpc_export(harness: &Harness, body: Vec<u8>) -> Option<i32> {
    let mut framed = vec![0];
    framed.extend((body.len() as u32).to_be_bytes());
    framed.extend(body);
    let address = harness.bound.grpc.expect("grpc is enabled");
    let headers = [("content-type", "application/grpc"), ("te", "trailers")];
    let path = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    let (_, headers_back, _, trailers) = h2_request(address, path, &headers, framed).await;
    trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| headers_back.get("grpc-status"))
        .and_then(|v| v.to_str().ok()?.parse().ok())
}
