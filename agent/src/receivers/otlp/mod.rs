//! The `otlp` receiver: OTLP over gRPC (`:4317`) and HTTP (`:4318`), as the OpenTelemetry
//! Collector's otlp receiver.
//!
//! Every request, whatever the protocol, goes through the same steps ([`ingest`]):
//! 1. before its body is read, the request is refused (429 / `RESOURCE_EXHAUSTED`) when
//!    the pipelines, the exporter queues behind them or the memory budgets
//!    (`memory_limiter`) have no room ([`sentinel_pipeline::Consumer::has_room`]); the
//!    body is charged to the budgets as it arrives and as it inflates;
//! 2. a pass over the bytes ([`prescan`]) checks the `limits` (items, list lengths,
//!    value nesting) and estimates the decoded size, which is charged before decoding;
//! 3. the body is decoded (protobuf, or OTLP/JSON on HTTP); malformed → HTTP 400 / gRPC
//!    `INVALID_ARGUMENT`, counted in `sentinel_receiver_bad_requests_total`;
//! 4. items with invalid ids are removed and reported as partial success
//!    ([`decode::reject_invalid`] lists the rules);
//! 5. the rest is handed to every pipeline that lists this receiver, with an ack token;
//! 6. the client is answered once every exporter queue on the way accepted the data,
//!    or refused: capacity → HTTP 429 / `RESOURCE_EXHAUSTED`, unavailable → HTTP 503 /
//!    `UNAVAILABLE`, both with a retry hint (`Retry-After`, `RetryInfo`).
//!
//! A signal that no pipeline takes from this receiver is not served: HTTP 404, gRPC
//! `UNIMPLEMENTED`, as in the Collector, which only registers the signals in use.

#[cfg(test)]
mod compliance;
mod config;
pub(crate) mod decode;
mod grpc;
mod http;
mod ingest;
pub(crate) mod prescan;
mod response;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use sentinel_pipeline::config::{self as pipeline_config, Endpoint, Node};
use sentinel_pipeline::http::BadRequests;
use sentinel_pipeline::listen::{
    exposure_diagnostic, exposure_warning, Listening, ALPN_GRPC, ALPN_HTTP,
};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Outputs, Receiver, ReceiverFactory,
    Running, Signal,
};
use tokio::net::TcpListener;

use config::ServerBlock;

pub use config::{GrpcConfig, HttpConfig, OtlpReceiverConfig, Protocols, RequestLimits};
/// OTLP/JSON decoding, also used by `sentinel test` for its inputs.
pub use decode::{decode_json, DecodeError};

use ingest::Ingest;

/// Builds `otlp` receivers.
pub struct OtlpReceiverFactory;

impl Factory for OtlpReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "otlp",
            kind: Kind::Receiver,
            signals: &Signal::ALL,
            description:
                "Receives traces, metrics and logs over OTLP/gRPC and OTLP/HTTP (protobuf or JSON)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<pipeline_config::Diagnostic>> {
        pipeline_config::check::<OtlpReceiverConfig>(node)
    }

    fn warnings(&self, node: &Node) -> Vec<pipeline_config::Diagnostic> {
        let Ok(config) = pipeline_config::decode_valid::<OtlpReceiverConfig>(node) else {
            return Vec::new();
        };
        let Protocols { grpc, http } = &config.protocols;
        let grpc = grpc.as_ref().map(|g| ("grpc", g as &dyn ServerBlock));
        let http = http.as_ref().map(|h| ("http", h as &dyn ServerBlock));
        grpc.into_iter()
            .chain(http)
            .filter_map(|(protocol, server)| {
                let (endpoint, tls, auth, _) = server.parts();
                let path = format!("protocols.{protocol}.endpoint");
                exposure_diagnostic(
                    node,
                    &path,
                    endpoint.as_str(),
                    tls.is_some(),
                    auth.is_some(),
                )
            })
            .collect()
    }
}

impl ReceiverFactory for OtlpReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: OtlpReceiverConfig =
            pipeline_config::decode_valid(node).map_err(|mut diagnostics| BuildError::Config {
                component: ctx.id.clone(),
                diagnostic: diagnostics.remove(0),
            })?;
        Ok(Box::new(OtlpReceiver::new(config, ctx)))
    }
}

/// One configured otlp receiver, not yet listening.
pub struct OtlpReceiver {
    config: OtlpReceiverConfig,
    ctx: BuildContext,
}

/// Where a started receiver listens (port `0` in the config resolved to the real port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BoundAddresses {
    pub grpc: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
}

impl OtlpReceiver {
    pub fn new(config: OtlpReceiverConfig, ctx: BuildContext) -> OtlpReceiver {
        OtlpReceiver { config, ctx }
    }

    /// Binds every configured listener, then serves in the background until
    /// `ctx.shutdown` is cancelled. Returns once listening (that is readiness), or
    /// [`BuildError::Bind`] if an address is taken. The returned task ends when both
    /// servers have stopped and their in-flight requests are answered.
    pub async fn listen(self, outputs: Outputs) -> Result<(BoundAddresses, Running), BuildError> {
        let OtlpReceiver { config, ctx } = self;
        let Protocols { grpc, http } = config.protocols;
        // Bind everything before serving anything, so a taken port fails startup cleanly.
        let grpc_listener = match &grpc {
            Some(grpc) => Some(bind(&ctx.id, "grpc", &grpc.endpoint)?),
            None => None,
        };
        let http_listener = match &http {
            Some(http) => Some(bind(&ctx.id, "http", &http.endpoint)?),
            None => None,
        };
        let bound = BoundAddresses {
            grpc: grpc_listener.as_ref().and_then(|l| l.local_addr().ok()),
            http: http_listener.as_ref().and_then(|l| l.local_addr().ok()),
        };

        let limits = config.limits.prescan_limits();
        let ingest = Arc::new(Ingest::new(
            &ctx.id,
            outputs,
            &ctx.metrics,
            limits,
            |signal| ctx.component_metrics(Kind::Receiver, signal),
        ));
        let bad_requests = BadRequests::new(&ctx.metrics, &ctx.id);
        let grpc_server = match grpc.zip(grpc_listener) {
            Some((grpc, listener)) => {
                let listening = listening(&ctx.id, "grpc", &grpc, &bad_requests)?;
                Some(grpc::serve(
                    listener,
                    ingest.clone(),
                    grpc::Settings {
                        max_decoding_message_size: grpc.max_recv_msg_size_bytes(),
                        max_concurrent_streams: grpc.max_concurrent_streams,
                        listening,
                    },
                    ctx.shutdown.clone(),
                ))
            }
            None => None,
        };
        let http_server = match http.zip(http_listener) {
            Some((http, listener)) => {
                let listening = listening(&ctx.id, "http", &http, &bad_requests)?;
                Some(http::serve(
                    listener,
                    ingest.clone(),
                    http.max_request_body_bytes(),
                    listening,
                    ctx.shutdown.clone(),
                ))
            }
            None => None,
        };
        let id = ctx.id.clone();
        let task = tokio::spawn(async move {
            let grpc = async {
                if let Some(server) = grpc_server {
                    server.await;
                }
            };
            let http = async {
                if let Some(server) = http_server {
                    server.await;
                }
            };
            tokio::join!(grpc, http);
            tracing::debug!(component = %id, "OTLP receiver stopped.");
        });
        Ok((bound, Running { task }))
    }
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError> {
        let (_, running) = self.listen(outputs).await?;
        Ok(running)
    }

    fn listens_on(&self) -> Vec<String> {
        let protocols = &self.config.protocols;
        let grpc = protocols
            .grpc
            .iter()
            .map(|g| format!("OTLP/gRPC {}", g.endpoint));
        let http = protocols.http.iter().map(|h| {
            let scheme = if h.tls.is_some() { "https" } else { "http" };
            format!(
                "OTLP/HTTP {scheme}://{}/v1/{{traces,metrics,logs}}",
                h.endpoint
            )
        });
        grpc.chain(http).collect()
    }
}

/// One protocol's TLS, auth and limits, its files read now; warns once when it is
/// reachable from other hosts with neither TLS nor auth.
fn listening(
    component: &str,
    protocol: &str,
    server: &impl ServerBlock,
    bad_requests: &BadRequests,
) -> Result<Listening, BuildError> {
    let (endpoint, tls, auth, limits) = server.parts();
    let alpn = if protocol == "grpc" {
        ALPN_GRPC
    } else {
        ALPN_HTTP
    };
    let mut listening =
        Listening::build(tls, auth, limits, alpn).map_err(|err| BuildError::Other {
            component: component.to_string(),
            message: format!("protocols.{protocol}.{err}"),
        })?;
    listening.auth = listening.auth.map(|a| a.counting(bad_requests.clone()));
    let key = format!("receivers.{component}.protocols.{protocol}.endpoint");
    if let Some(warning) = exposure_warning(&key, endpoint.as_str(), tls.is_some(), auth.is_some())
    {
        tracing::warn!("{warning}");
    }
    Ok(listening)
}

fn bind(component: &str, protocol: &str, endpoint: &Endpoint) -> Result<TcpListener, BuildError> {
    let bind_error = |source| BuildError::Bind {
        component: component.to_string(),
        endpoint: format!("{endpoint} (protocols.{protocol}.endpoint)"),
        source,
    };
    let address = endpoint.socket_addr().map_err(bind_error)?;
    let listener = sentinel_pipeline::http::bind(address).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    tracing::info!(component, protocol, address = %local, "listening");
    Ok(listener)
}
