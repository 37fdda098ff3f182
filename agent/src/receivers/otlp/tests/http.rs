//! OTLP/HTTP end to end: real sockets, a recording pipeline, self-metrics.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message as _;
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::testing::ComponentCounts;
use sentinel_pipeline::{Payload, Refusal, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::response::RpcStatus;
use super::support::*;

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn protobuf_traces_are_handed_on_and_acknowledged() {
    let harness = Harness::start(Mode::Accept).await;
    let request = traces(3);
    let reply = post_protobuf(harness.http(), "/v1/traces", request.encode_to_vec()).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/x-protobuf");
    let response = ExportTraceServiceResponse::decode(reply.body).unwrap();
    assert_eq!(response.partial_success, None);
    assert_eq!(harness.recorder.payloads(), vec![Payload::Traces(request)]);
    assert_eq!(harness.counts(Signal::Traces), accepted_counts(3));
}

#[tokio::test]
async fn gzip_and_zstd_bodies_are_decompressed() {
    let harness = Harness::start(Mode::Accept).await;
    let request = traces(2);
    let raw = request.encode_to_vec();
    for (encoding, body) in [("gzip", gzip(&raw)), ("zstd", zstd(&raw))] {
        let headers = [PROTOBUF, ("content-encoding", encoding)];
        let reply = http_request(harness.http(), "POST", "/v1/traces", &headers, body).await;
        assert_eq!(reply.status, 200, "{encoding}");
    }
    let expected = Payload::Traces(request);
    assert_eq!(
        harness.recorder.payloads(),
        vec![expected.clone(), expected]
    );
    assert_eq!(harness.counts(Signal::Traces), accepted_counts(4));
}

#[tokio::test]
async fn chunked_bodies_are_accepted() {
    let harness = Harness::start(Mode::Accept).await;
    let request = traces(4);
    let raw = request.encode_to_vec();
    let mut wire = b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\n\
        Content-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\
        Connection: close\r\n\r\n"
        .to_vec();
    for chunk in raw.chunks(7) {
        wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");

    let mut stream = tokio::net::TcpStream::connect(harness.http())
        .await
        .unwrap();
    stream.write_all(&wire).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(harness.recorder.payloads(), vec![Payload::Traces(request)]);
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let harness = Harness::start(Mode::Accept).await;
    let request = traces(1);
    let (status, _, _, _) = h2_request(
        harness.http(),
        "/v1/traces",
        &[PROTOBUF],
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(harness.recorder.payloads(), vec![Payload::Traces(request)]);
}

#[tokio::test]
async fn otlp_json_from_the_spec_decodes_to_the_same_request() {
    let harness = Harness::start(Mode::Accept).await;
    let body = super::decode::SPEC_TRACE_JSON;
    let reply = http_request(harness.http(), "POST", "/v1/traces", &[JSON], body).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(&reply.body[..], b"{}");
    assert_eq!(
        harness.recorder.payloads(),
        vec![Payload::Traces(super::decode::spec_trace_request())]
    );
    assert_eq!(harness.counts(Signal::Traces), accepted_counts(1));
}

#[tokio::test]
async fn malformed_protobuf_is_a_bad_request() {
    let harness = Harness::start(Mode::Accept).await;
    // Field 1, wire type 2, length 100, but only 3 bytes follow.
    let reply = post_protobuf(harness.http(), "/v1/traces", vec![0x0a, 100, 1, 2, 3]).await;

    assert_eq!(reply.status, 400);
    let status = RpcStatus::decode(reply.body).unwrap();
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(!status.message.is_empty());
    assert!(harness.recorder.payloads().is_empty());
    assert_eq!(harness.bad_requests("malformed_protobuf"), 1);
    assert_eq!(harness.counts(Signal::Traces), ComponentCounts::default());
}

#[tokio::test]
async fn invalid_json_is_a_bad_request_with_a_json_status() {
    let harness = Harness::start(Mode::Accept).await;
    for body in [&b"{\"resourceSpans\": [ {"[..], b"{\"resourceSpans\": 5}"] {
        let reply = http_request(harness.http(), "POST", "/v1/traces", &[JSON], body).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.headers["content-type"], "application/json");
        let status: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(status["code"], 3);
        assert!(status["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(harness.bad_requests("malformed_json"), 2);
    assert!(harness.recorder.payloads().is_empty());
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let config = config_on_free_ports(1024, 4);
    let harness = Harness::start_with(config, &[Signal::Traces], Mode::Accept, None).await;
    let body = traces(40).encode_to_vec();
    assert!(body.len() > 1024);

    let with_length = post_protobuf(harness.http(), "/v1/traces", body.clone()).await;
    assert_eq!(with_length.status, 413);
    assert_eq!(RpcStatus::decode(with_length.body).unwrap().code, 11);

    // HTTP/2 sends no content-length here: the limit applies while reading.
    let (status, _, _, _) = h2_request(harness.http(), "/v1/traces", &[PROTOBUF], body).await;
    assert_eq!(status, 413);
    assert_eq!(harness.bad_requests("body_too_large"), 2);
    assert!(harness.recorder.payloads().is_empty());
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_without_inflating_it() {
    let config = config_on_free_ports(1024 * 1024, 4);
    let harness = Harness::start_with(config, &[Signal::Traces], Mode::Accept, None).await;
    let zeros = vec![0u8; 50 * 1024 * 1024];
    for (encoding, bomb) in [("gzip", gzip(&zeros)), ("zstd", zstd(&zeros))] {
        assert!(
            bomb.len() < 1024 * 1024,
            "{encoding} bomb is {} bytes",
            bomb.len()
        );
        let headers = [PROTOBUF, ("content-encoding", encoding)];
        let reply = http_request(harness.http(), "POST", "/v1/traces", &headers, bomb).await;
        assert_eq!(reply.status, 413, "{encoding}");
    }
    assert_eq!(harness.bad_requests("body_too_large"), 2);
    // That the decoder stops at the limit is checked in sentinel_pipeline's http tests.
}

#[tokio::test]
async fn a_corrupt_gzip_body_is_a_bad_request() {
    let harness = Harness::start(Mode::Accept).await;
    let headers = [PROTOBUF, ("content-encoding", "gzip")];
    let reply = http_request(
        harness.http(),
        "POST",
        "/v1/traces",
        &headers,
        &b"not gzip"[..],
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(harness.bad_requests("corrupt_compression"), 1);
}

#[tokio::test]
async fn capacity_refusals_answer_429_with_retry_after() {
    let refusal = Refusal {
        retry_after: Some(Duration::from_millis(2500)),
        ..Refusal::capacity("pipeline channel full")
    };
    let harness = Harness::start(Mode::RefuseSend(refusal.clone())).await;
    let reply = post_protobuf(harness.http(), "/v1/traces", traces(2).encode_to_vec()).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.headers["retry-after"], "3");
    let status = RpcStatus::decode(reply.body).unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (8, "pipeline channel full")
    );

    // Refused later by an exporter queue, after the hand-off succeeded: same answer.
    harness.recorder.set_mode(Mode::RefuseAck(refusal));
    let reply = post_protobuf(harness.http(), "/v1/traces", traces(3).encode_to_vec()).await;
    assert_eq!(reply.status, 429);
    assert_eq!(
        harness.counts(Signal::Traces),
        ComponentCounts {
            received: 5,
            refused: 5,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn unavailable_answers_503_with_retry_after() {
    let harness = Harness::start(Mode::RefuseAck(Refusal::unavailable("shutting down"))).await;
    let headers = [JSON];
    let body = serde_json::to_vec(&traces(1)).unwrap();
    let reply = http_request(harness.http(), "POST", "/v1/traces", &headers, body).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.headers["retry-after"], "1");
    let status: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(status["code"], 14);
}

#[tokio::test]
async fn the_memory_budget_is_charged_before_decoding_and_held_until_the_ack() {
    let budget = MemoryBudget::new("memory_limiter", 10_000);
    let config = config_on_free_ports(1024 * 1024, 4);
    let harness =
        Harness::start_with(config, &[Signal::Traces], Mode::Hold, Some(budget.clone())).await;
    let body = traces(2).encode_to_vec();
    let limits = crate::receivers::otlp::RequestLimits::default().prescan_limits();
    // The decoded size estimated before decoding, more than the body itself.
    let size = crate::receivers::otlp::prescan::prescan(Signal::Traces, &body, &limits)
        .unwrap()
        .decoded_bytes;
    assert!(size > body.len());
    let address = harness.http();
    let in_flight = tokio::spawn(async move { post_protobuf(address, "/v1/traces", body).await });

    harness.recorder.wait_for_held(1).await;
    assert_eq!(
        budget.used(),
        size,
        "charged while the pipelines hold the data"
    );
    harness.recorder.release();
    assert_eq!(in_flight.await.unwrap().status, 200);
    assert_eq!(budget.used(), 0, "released once acknowledged");

    // Larger than the whole budget: refused before decoding, even if it is garbage.
    let reply = post_protobuf(harness.http(), "/v1/traces", vec![0xff; 20_000]).await;
    assert_eq!(reply.status, 429);
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(harness.bad_requests("malformed_protobuf"), 0);
}

#[tokio::test]
async fn invalid_ids_are_rejected_as_partial_success() {
    let harness = Harness::start(Mode::Accept).await;
    let mut request = traces(4);
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans[1].trace_id = vec![1; 15];
    spans[2].span_id = vec![0; 8];
    let mut expected = request.clone();
    expected.resource_spans[0].scope_spans[0]
        .spans
        .retain(|s| s.name == "span-0" || s.name == "span-3");

    let reply = post_protobuf(harness.http(), "/v1/traces", request.encode_to_vec()).await;
    assert_eq!(reply.status, 200);
    let partial = ExportTraceServiceResponse::decode(reply.body)
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("trace_id"));
    assert_eq!(harness.recorder.payloads(), vec![Payload::Traces(expected)]);
    assert_eq!(
        harness.counts(Signal::Traces),
        ComponentCounts {
            received: 4,
            sent: 2,
            dropped: 2,
            ..Default::default()
        }
    );

    // The JSON answer names the signal's field and writes the count as a string.
    let body = serde_json::to_vec(&request).unwrap();
    let reply = http_request(harness.http(), "POST", "/v1/traces", &[JSON], body).await;
    let answer: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "2");
}

#[tokio::test]
async fn log_records_with_wrong_length_ids_are_rejected() {
    let harness = Harness::start(Mode::Accept).await;
    let record = |trace_id: Vec<u8>| LogRecord {
        trace_id,
        ..Default::default()
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record(vec![]), record(vec![7; 16]), record(vec![7; 3])],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let reply = post_protobuf(harness.http(), "/v1/logs", request.encode_to_vec()).await;
    assert_eq!(reply.status, 200);
    let partial =
        opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse::decode(
            reply.body,
        )
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert_eq!(harness.counts(Signal::Logs).sent, 2);
}

#[tokio::test]
async fn an_empty_request_succeeds_without_reaching_the_pipeline() {
    let harness = Harness::start(Mode::Accept).await;
    let empty = ExportTraceServiceRequest::default().encode_to_vec();
    let reply = post_protobuf(harness.http(), "/v1/traces", empty).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    assert!(harness.recorder.payloads().is_empty());
    assert_eq!(harness.counts(Signal::Traces), ComponentCounts::default());
}

#[tokio::test]
async fn routes_methods_and_media_types_are_checked() {
    let config = config_on_free_ports(1024 * 1024, 4);
    let harness = Harness::start_with(config, &[Signal::Traces], Mode::Accept, None).await;
    let address = harness.http();
    let body = traces(1).encode_to_vec();

    let unknown = http_request(address, "POST", "/v1/spans", &[PROTOBUF], body.clone()).await;
    assert_eq!(unknown.status, 404);
    // Logs are not in any pipeline of this receiver: not served.
    let unused = http_request(address, "POST", "/v1/logs", &[PROTOBUF], body.clone()).await;
    assert_eq!(unused.status, 404);
    let get = http_request(address, "GET", "/v1/traces", &[], Vec::new()).await;
    assert_eq!(get.status, 405);
    assert_eq!(get.headers["allow"], "POST");
    let text = [("content-type", "text/plain")];
    let wrong_type = http_request(address, "POST", "/v1/traces", &text, body.clone()).await;
    assert_eq!(wrong_type.status, 415);
    let brotli = [PROTOBUF, ("content-encoding", "br")];
    let wrong_encoding = http_request(address, "POST", "/v1/traces", &brotli, body.clone()).await;
    assert_eq!(wrong_encoding.status, 415);
    let charset = [("content-type", "application/x-protobuf; charset=utf-8")];
    let with_parameter = http_request(address, "POST", "/v1/traces", &charset, body).await;
    assert_eq!(with_parameter.status, 200);

    assert_eq!(harness.bad_requests("not_found"), 2);
    assert_eq!(harness.bad_requests("method_not_allowed"), 1);
    assert_eq!(harness.bad_requests("unsupported_content_type"), 1);
    assert_eq!(harness.bad_requests("unsupported_content_encoding"), 1);
    assert_eq!(harness.recorder.payloads().len(), 1);
}

#[tokio::test]
async fn shutdown_stops_accepting_but_answers_in_flight_requests() {
    let mut harness = Harness::start(Mode::Hold).await;
    let address = harness.http();
    let in_flight = tokio::spawn(async move {
        post_protobuf(address, "/v1/traces", traces(1).encode_to_vec()).await
    });
    harness.recorder.wait_for_held(1).await;

    harness.shutdown.cancel();
    let running = harness.running.take().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !running.task.is_finished(),
        "waits for the in-flight request"
    );
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );

    harness.recorder.release();
    assert_eq!(in_flight.await.unwrap().status, 200);
    tokio::time::timeout(PATIENCE, running.task)
        .await
        .expect("stops once the in-flight request is answered")
        .unwrap();
}
