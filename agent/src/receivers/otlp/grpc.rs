//! OTLP/gRPC: the `Export` methods of `TraceService`, `MetricsService` and `LogsService`.
//!
//! The services are served with tonic's own framing, compression (gzip, zstd) and size
//! limit, but with a codec that hands the handler the raw message bytes instead of the
//! generated servers' decoded request. That lets the receiver charge the memory budget
//! before decoding, like OTLP/HTTP, and answer a malformed message `INVALID_ARGUMENT` as
//! the OTLP spec asks (tonic's prost codec answers `INTERNAL`).
//!
//! Before tonic reads a message, a call is refused `RESOURCE_EXHAUSTED` when the path is
//! full; the message's frames are charged to the memory budget as they arrive (so
//! unfinished messages across all streams hold budget), and the handler takes that
//! charge over.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use prost::Message as _;
use sentinel_pipeline::admission::Admission;
use sentinel_pipeline::http::{take_charge, BodyError, ChargedBody};
use sentinel_pipeline::listen::{Authenticator, ConnectionInfo, Listening, TimedBody};
use sentinel_pipeline::{RefusalKind, Signal};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Context, Poll, Service};
use tonic::{Code, Status};

use super::decode::Format;
use super::ingest::{Failure, Ingest};
use super::response::{code, ExportResponse, RpcStatus};

pub const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
pub const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

fn signal_of(path: &str) -> Option<Signal> {
    match path {
        TRACES_PATH => Some(Signal::Traces),
        METRICS_PATH => Some(Signal::Metrics),
        LOGS_PATH => Some(Signal::Logs),
        _ => None,
    }
}

/// What the gRPC server is set up with.
pub struct Settings {
    pub max_decoding_message_size: usize,
    pub max_concurrent_streams: u32,
    pub listening: Listening,
}

/// Serves until `shutdown` is cancelled, then stops accepting and lets in-flight calls
/// finish. Connections come from the shared accept loop (cap, TLS, idle timeout).
pub async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let Settings {
        max_decoding_message_size,
        max_concurrent_streams,
        listening,
    } = settings;
    let service = GrpcService {
        ingest: ingest.clone(),
        max_decoding_message_size,
        auth: listening.auth.clone(),
        read_timeout: listening.limits.read_timeout,
    };
    let accept_stop = shutdown.child_token();
    let incoming = sentinel_pipeline::listen::connections(
        "OTLP/gRPC",
        listener,
        &listening,
        accept_stop.clone(),
    );
    let incoming = futures::stream::unfold(incoming, |mut rx| async move {
        let connection = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(connection), rx))
    });
    let served = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(max_concurrent_streams))
        .serve_with_incoming_shutdown(service, incoming, shutdown.cancelled_owned())
        .await;
    accept_stop.cancel();
    if let Err(err) = served {
        tracing::error!(error = %err, "OTLP/gRPC server failed.");
    }
}

/// Routes the three `Export` paths. A signal that no pipeline takes from this receiver
/// is answered `UNIMPLEMENTED`, as the Collector does (it registers only the services
/// of signals in use).
#[derive(Clone)]
struct GrpcService {
    ingest: Arc<Ingest>,
    max_decoding_message_size: usize,
    auth: Option<Authenticator>,
    read_timeout: Duration,
}

impl<B> Service<http::Request<B>> for GrpcService
where
    B: tonic::codegen::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(why) = self
            .auth
            .as_ref()
            .and_then(|a| a.check(request.headers()).err())
        {
            let status = Status::unauthenticated(why.to_string());
            return Box::pin(async move { Ok(status.into_http()) });
        }
        // The idle timer leaves the connection open while a call is in progress.
        let busy = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| info.activity.begin());
        let read_timeout = self.read_timeout;
        let request = request.map(|body| TimedBody::new(body, read_timeout));
        let signal = signal_of(request.uri().path()).filter(|s| self.ingest.accepts(*s));
        let Some(signal) = signal else {
            let status = Status::unimplemented(format!(
                "{} is not served: no pipeline takes this signal from this receiver",
                request.uri().path()
            ));
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let admission = match self.ingest.admit_body(signal, 0) {
            Ok(admission) => admission,
            Err(failure) => {
                let status = status_of(failure);
                return Box::pin(async move { Ok(status.into_http()) });
            }
        };
        let request = charged(request, admission);
        let call = ExportCall {
            ingest: self.ingest.clone(),
            signal,
        };
        let max_decoding_message_size = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(max_decoding_message_size);
            let response = grpc.unary(call, request).await;
            drop(busy);
            Ok(response)
        })
    }
}

/// What a call's message frames were charged, shared by its body and its handler.
#[derive(Clone)]
struct BodyCharge(Arc<Mutex<Admission>>);

/// The request with its body charged to `admission` as frames arrive; over budget, the
/// body fails and tonic answers `RESOURCE_EXHAUSTED` with a retry hint.
fn charged<B>(
    request: http::Request<B>,
    admission: Admission,
) -> http::Request<impl tonic::codegen::Body<Data = Bytes, Error = BoxError> + Send + 'static>
where
    B: tonic::codegen::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    let charge = Arc::new(Mutex::new(admission));
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(BodyCharge(charge.clone()));
    let body = ChargedBody::new(body, charge).map_err(|err: BoxError| {
        match err.downcast_ref::<BodyError>() {
            Some(BodyError::OverBudget(refusal)) => {
                Box::new(status_of(Failure::Refused(refusal.clone()))) as BoxError
            }
            _ => err,
        }
    });
    http::Request::from_parts(parts, body)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct ExportCall {
    ingest: Arc<Ingest>,
    signal: Signal,
}

impl tonic::server::UnaryService<Bytes> for ExportCall {
    type Response = ExportResponse;
    type Future = BoxFuture<tonic::Response<ExportResponse>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let ingest = self.ingest.clone();
        let signal = self.signal;
        let charged = request
            .extensions()
            .get::<BodyCharge>()
            .map(|charge| take_charge(&charge.0));
        Box::pin(async move {
            let outcome = ingest
                .ingest(signal, Format::Protobuf, request.into_inner(), charged)
                .await;
            match outcome {
                Ok(accepted) => Ok(tonic::Response::new(ExportResponse::new(
                    signal,
                    accepted.rejected.as_ref(),
                ))),
                Err(failure) => Err(status_of(failure)),
            }
        })
    }
}

/// The gRPC status of a failure, per the OTLP spec. Refusals carry `RetryInfo`, without
/// which OTLP clients do not retry `RESOURCE_EXHAUSTED`.
pub fn status_of(failure: Failure) -> Status {
    match failure {
        Failure::Malformed(message) | Failure::OverLimit { message, .. } => {
            Status::invalid_argument(message)
        }
        Failure::Refused(refusal) => {
            let (code, grpc_code) = match refusal.kind {
                RefusalKind::Capacity => (Code::ResourceExhausted, code::RESOURCE_EXHAUSTED),
                RefusalKind::Unavailable => (Code::Unavailable, code::UNAVAILABLE),
            };
            let delay = refusal.retry_after.unwrap_or(Duration::from_secs(1));
            let details = RpcStatus::new(grpc_code, refusal.message.clone())
                .with_retry_after(delay)
                .encode_to_vec();
            Status::with_details(code, refusal.message, Bytes::from(details))
        }
    }
}

/// Decodes nothing: the message bytes go to the handler as they are (no copy: tonic's
/// buffer is split off). Encodes the `Export*ServiceResponse`.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = ExportResponse;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Encoder for RawCodec {
    type Item = ExportResponse;
    type Error = Status;

    fn encode(&mut self, item: ExportResponse, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|err| Status::internal(format!("cannot encode the response: {err}")))
    }
}
