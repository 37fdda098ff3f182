//! OTLP/gRPC end to end with the generated tonic clients.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use prost::Message as _;
use sentinel_pipeline::testing::ComponentCounts;
use sentinel_pipeline::{Payload, Refusal, Signal};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic::Code;

use super::super::response::{RetryInfo, RpcStatus, RETRY_INFO_TYPE_URL};
use super::support::*;

pub(super) async fn trace_client(harness: &Harness) -> TraceServiceClient<Channel> {
    TraceServiceClient::connect(harness.grpc_url())
        .await
        .unwrap()
}

#[tokio::test]
async fn gzip_and_zstd_exports_are_acknowledged() {
    let harness = Harness::start(Mode::Accept).await;
    let request = traces(3);
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut client = trace_client(&harness).await.send_compressed(encoding);
        let response = client.export(request.clone()).await.unwrap().into_inner();
        assert_eq!(response.partial_success, None);
    }
    let expected = Payload::Traces(request);
    assert_eq!(
        harness.recorder.payloads(),
        vec![expected.clone(), expected]
    );
    assert_eq!(harness.counts(Signal::Traces), accepted_counts(6));
}

#[tokio::test]
async fn metrics_and_logs_services_are_served() {
    let harness = Harness::start(Mode::Accept).await;
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue.depth".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint::default(); 2],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 3],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut metrics_client = MetricsServiceClient::connect(harness.grpc_url())
        .await
        .unwrap();
    metrics_client.export(metrics.clone()).await.unwrap();
    let mut logs_client = LogsServiceClient::connect(harness.grpc_url())
        .await
        .unwrap();
    logs_client.export(logs.clone()).await.unwrap();

    assert_eq!(
        harness.recorder.payloads(),
        vec![Payload::Metrics(metrics), Payload::Logs(logs)]
    );
    assert_eq!(harness.counts(Signal::Metrics).sent, 2);
    assert_eq!(harness.counts(Signal::Logs).sent, 3);
}

#[tokio::test]
async fn partial_success_reaches_grpc_clients() {
    let harness = Harness::start(Mode::Accept).await;
    let mut request = traces(2);
    request.resource_spans[0].scope_spans[0].spans[0]
        .span_id
        .clear();
    let response = trace_client(&harness)
        .await
        .export(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.partial_success.unwrap().rejected_spans, 1);
    assert_eq!(harness.counts(Signal::Traces).dropped, 1);
}

fn retry_info(status: &tonic::Status) -> RetryInfo {
    let details = RpcStatus::decode(status.details()).expect("google.rpc.Status details");
    let retry = details
        .details
        .iter()
        .find(|any| any.type_url == RETRY_INFO_TYPE_URL)
        .expect("RetryInfo detail");
    RetryInfo::decode(&retry.value[..]).unwrap()
}

#[tokio::test]
async fn refusals_map_to_resource_exhausted_and_unavailable_with_retry_info() {
    let harness = Harness::start(Mode::RefuseSend(Refusal::capacity("channel full"))).await;
    let status = trace_client(&harness)
        .await
        .export(traces(2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "channel full");
    assert_eq!(retry_info(&status).retry_delay.unwrap().seconds, 1);

    harness
        .recorder
        .set_mode(Mode::RefuseAck(Refusal::unavailable("stopping")));
    let status = trace_client(&harness)
        .await
        .export(traces(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        harness.counts(Signal::Traces),
        ComponentCounts {
            received: 3,
            refused: 3,
            ..Default::default()
        }
    );
}

/// A gRPC frame: uncompressed flag, big-endian length, message.
pub(super) fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

pub(super) fn grpc_status(headers: &hyper::HeaderMap, trailers: &Option<hyper::HeaderMap>) -> i32 {
    let value = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| headers.get("grpc-status"))
        .expect("grpc-status");
    value.to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_malformed_message_is_invalid_argument() {
    let harness = Harness::start(Mode::Accept).await;
    let headers = [("content-type", "application/grpc"), ("te", "trailers")];
    let path = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    let grpc = harness.bound.grpc.unwrap();
    let (status, headers, _, trailers) =
        h2_request(grpc, path, &headers, grpc_frame(&[0x0a, 100, 1])).await;
    assert_eq!(status, 200);
    assert_eq!(
        grpc_status(&headers, &trailers),
        Code::InvalidArgument as i32
    );
    assert_eq!(harness.bad_requests("malformed_protobuf"), 1);
    assert!(harness.recorder.payloads().is_empty());
}

#[tokio::test]
async fn messages_over_the_limit_are_refused_by_size() {
    let config = config_on_free_ports(1024, 1);
    let harness = Harness::start_with(config, &[Signal::Traces], Mode::Accept, None).await;
    let big = traces(20_000);
    assert!(big.encoded_len() > 1024 * 1024);
    let status = trace_client(&harness)
        .await
        .max_encoding_message_size(usize::MAX)
        .export(big)
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    // Compressed small but inflating past the limit: stopped while decompressing.
    let status = trace_client(&harness)
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .max_encoding_message_size(usize::MAX)
        .export(traces(20_000))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(harness.recorder.payloads().is_empty());
}

#[tokio::test]
async fn signals_without_a_pipeline_are_unimplemented() {
    let config = config_on_free_ports(1024 * 1024, 4);
    let harness = Harness::start_with(config, &[Signal::Logs], Mode::Accept, None).await;
    let status = trace_client(&harness)
        .await
        .export(traces(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_export_finish() {
    let mut harness = Harness::start(Mode::Hold).await;
    let mut client = trace_client(&harness).await;
    let in_flight = tokio::spawn(async move { client.export(traces(1)).await });
    harness.recorder.wait_for_held(1).await;

    harness.shutdown.cancel();
    let running = harness.running.take().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !running.task.is_finished(),
        "waits for the in-flight export"
    );

    harness.recorder.release();
    assert!(in_flight.await.unwrap().is_ok());
    tokio::time::timeout(PATIENCE, running.task)
        .await
        .expect("stops once the export is answered")
        .unwrap();
}
