//! `receivers.otlp`: the user-facing configuration, named after the OpenTelemetry
//! Collector's otlp receiver so that existing configs keep working.

use sentinel_pipeline::config::{ComponentConfig, Endpoint, ValidationError};
use sentinel_pipeline::listen::{
    check_listener, ConnectionLimits, ServerAuthConfig, ServerTlsConfig,
};
use serde::{Deserialize, Deserializer, Serialize};

/// Default gRPC listen address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_GRPC_ENDPOINT: &str = "127.0.0.1:4317";
/// Default OTLP/HTTP listen address.
pub const DEFAULT_HTTP_ENDPOINT: &str = "127.0.0.1:4318";
const MIB: u64 = 1024 * 1024;
/// Upper bound for both size limits: a single request above 1 GiB is a mistake.
const MAX_LIMIT_BYTES: u64 = 1024 * MIB;

/// The otlp receiver. Written `otlp:` with nothing under it, it serves both gRPC and HTTP
/// on the default loopback ports.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// The protocols to serve. Without this key both gRPC and HTTP run with their
    /// defaults; with it, only the protocols listed run (`protocols: {grpc: }` serves gRPC
    /// alone, with default settings).
    #[serde(default)]
    pub protocols: Protocols,
    /// What one request may hold, on both protocols. Checked by a pass over the bytes
    /// before anything is decoded; a request over a limit is answered HTTP 413 (items)
    /// or 400 (lists, nesting), gRPC `INVALID_ARGUMENT`, and counted in
    /// `sentinel_receiver_bad_requests_total{reason="over_limit"}`. The Collector has no
    /// such keys.
    #[serde(default)]
    pub limits: RequestLimits,
}

/// `limits`: per-request limits of the otlp receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestLimits {
    /// Spans, metric data points or log records in one request. Default 100000 (SDKs
    /// send 512 by default, the Collector's `batch` processor 8192).
    pub max_items_per_request: u64,
    /// Elements of one attribute list (of a resource, scope, span, event, link, data
    /// point, exemplar or log record) and of one array or key-value list value. Default
    /// 4096 (SDKs keep 128 attributes by default).
    pub max_attributes_per_item: u64,
    /// How deeply attribute values and log bodies may nest arrays and key-value lists: a
    /// plain value is level 1, each array or list level adds one. Applies to protobuf and
    /// JSON alike. Default 32, at most 64.
    pub max_value_depth: u64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_items_per_request: 100_000,
            max_attributes_per_item: 4096,
            max_value_depth: 32,
        }
    }
}

/// Above this, nested values could exhaust the decoder's own recursion limit first.
const MAX_VALUE_DEPTH: u64 = 64;

/// `protocols`: each key present (even empty) enables that protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC (`TraceService`, `MetricsService`, `LogsService` `Export`).
    #[serde(
        default,
        deserialize_with = "enabled_when_listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub grpc: Option<GrpcConfig>,
    /// OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`, protobuf or JSON.
    #[serde(
        default,
        deserialize_with = "enabled_when_listed",
        skip_serializing_if = "Option::is_none"
    )]
    pub http: Option<HttpConfig>,
}

impl Default for Protocols {
    /// Both protocols, as when `protocols` is not written at all.
    fn default() -> Self {
        Protocols {
            grpc: Some(GrpcConfig::default()),
            http: Some(HttpConfig::default()),
        }
    }
}

/// `protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Address to listen on, `host:port`. Default `127.0.0.1:4317` (loopback only; use
    /// `0.0.0.0:4317` to accept from other hosts). Port `0` picks a free port, which is
    /// logged at startup.
    pub endpoint: Endpoint,
    /// Largest request message accepted, in MiB, after decompression. Larger requests
    /// are answered `OUT_OF_RANGE` (or `RESOURCE_EXHAUSTED` when the limit is hit while
    /// decompressing). Default 4.
    pub max_recv_msg_size_mib: u64,
    /// Most concurrent calls (HTTP/2 streams) one client connection may have open; the
    /// server advertises it in its HTTP/2 settings. Default 100.
    pub max_concurrent_streams: u32,
    /// Server TLS (`cert_file`, `key_file`, `client_ca_file`, `min_version`,
    /// `reload_interval`); see [`ServerTlsConfig`]. Default: plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsConfig>,
    /// Bearer-token authentication; calls without the token are answered
    /// `UNAUTHENTICATED`. See [`ServerAuthConfig`]. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<ServerAuthConfig>,
    /// Connection cap and idle, handshake and body-read timeouts; see
    /// [`ConnectionLimits`].
    pub connections: ConnectionLimits,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: default_endpoint(DEFAULT_GRPC_ENDPOINT),
            max_recv_msg_size_mib: 4,
            max_concurrent_streams: 100,
            tls: None,
            auth: None,
            connections: ConnectionLimits::default(),
        }
    }
}

impl GrpcConfig {
    pub fn max_recv_msg_size_bytes(&self) -> usize {
        usize::try_from(self.max_recv_msg_size_mib.saturating_mul(MIB)).unwrap_or(usize::MAX)
    }
}

/// `protocols.http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on, `host:port`. Default `127.0.0.1:4318` (loopback only).
    /// Port `0` picks a free port, which is logged at startup.
    pub endpoint: Endpoint,
    /// Largest request body accepted, in bytes. Applies to the body as sent (compressed
    /// or not) and, separately, to its decompressed size, so a small gzip or zstd body
    /// that would inflate past the limit is refused with `413` without being inflated.
    /// Default 20971520 (20 MiB).
    pub max_request_body_size: u64,
    /// Server TLS (`cert_file`, `key_file`, `client_ca_file`, `min_version`,
    /// `reload_interval`); see [`ServerTlsConfig`]. Default: plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsConfig>,
    /// Bearer-token authentication; requests without the token are answered `401`.
    /// See [`ServerAuthConfig`]. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<ServerAuthConfig>,
    /// Connection cap and idle, header and body-read timeouts; see [`ConnectionLimits`].
    pub connections: ConnectionLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: default_endpoint(DEFAULT_HTTP_ENDPOINT),
            max_request_body_size: 20 * MIB,
            tls: None,
            auth: None,
            connections: ConnectionLimits::default(),
        }
    }
}

impl HttpConfig {
    pub fn max_request_body_bytes(&self) -> usize {
        usize::try_from(self.max_request_body_size).unwrap_or(usize::MAX)
    }
}

impl ComponentConfig for OtlpReceiverConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        self.limits.validate()?;
        let Protocols { grpc, http } = &self.protocols;
        if grpc.is_none() && http.is_none() {
            return Err(ValidationError::at(
                "protocols",
                "enable at least one of `grpc` and `http`",
            ));
        }
        if let Some(grpc) = grpc {
            if grpc.max_recv_msg_size_mib == 0 || grpc.max_recv_msg_size_mib > MAX_LIMIT_BYTES / MIB
            {
                return Err(ValidationError::at(
                    "protocols.grpc.max_recv_msg_size_mib",
                    format!(
                        "must be from 1 to {}, got {}",
                        MAX_LIMIT_BYTES / MIB,
                        grpc.max_recv_msg_size_mib
                    ),
                ));
            }
        }
        if let Some(http) = http {
            if http.max_request_body_size == 0 || http.max_request_body_size > MAX_LIMIT_BYTES {
                return Err(ValidationError::at(
                    "protocols.http.max_request_body_size",
                    format!(
                        "must be from 1 to {MAX_LIMIT_BYTES} bytes, got {}",
                        http.max_request_body_size
                    ),
                ));
            }
        }
        if let Some(grpc) = grpc {
            if grpc.max_concurrent_streams == 0 {
                return Err(ValidationError::at(
                    "protocols.grpc.max_concurrent_streams",
                    "must be at least 1",
                ));
            }
            check_listener(&grpc.tls, &grpc.auth, &grpc.connections)
                .map_err(|e| e.within("protocols.grpc"))?;
        }
        if let Some(http) = http {
            check_listener(&http.tls, &http.auth, &http.connections)
                .map_err(|e| e.within("protocols.http"))?;
        }
        if let (Some(grpc), Some(http)) = (grpc, http) {
            let port = |e: &Endpoint| e.as_str().rsplit_once(':').map(|(_, p)| p.to_string());
            if grpc.endpoint == http.endpoint && port(&grpc.endpoint).as_deref() != Some("0") {
                return Err(ValidationError::at(
                    "protocols",
                    format!("grpc and http cannot both listen on {}", grpc.endpoint),
                ));
            }
        }
        Ok(())
    }
}

/// The listener parts of a protocol block: endpoint, TLS, auth and connection limits.
pub type ServerParts<'a> = (
    &'a Endpoint,
    Option<&'a ServerTlsConfig>,
    Option<&'a ServerAuthConfig>,
    &'a ConnectionLimits,
);

/// A protocol block (`grpc`, `http`) as the shared listener plumbing sees it.
pub trait ServerBlock {
    fn parts(&self) -> ServerParts<'_>;
}

/// Both protocol blocks carry the same four listener fields under the same names.
macro_rules! server_block {
    ($($block:ty),+) => {$(
        impl ServerBlock for $block {
            fn parts(&self) -> ServerParts<'_> {
                let Self { endpoint, tls, auth, connections, .. } = self;
                (endpoint, tls.as_ref(), auth.as_ref(), connections)
            }
        }
    )+};
}

server_block!(GrpcConfig, HttpConfig);

impl RequestLimits {
    pub fn prescan_limits(&self) -> super::prescan::Limits {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        super::prescan::Limits {
            max_items: size(self.max_items_per_request),
            max_attributes: size(self.max_attributes_per_item),
            max_depth: size(self.max_value_depth),
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        let checks = [
            (
                "max_items_per_request",
                self.max_items_per_request,
                u64::MAX,
            ),
            (
                "max_attributes_per_item",
                self.max_attributes_per_item,
                u64::MAX,
            ),
            ("max_value_depth", self.max_value_depth, MAX_VALUE_DEPTH),
        ];
        for (key, value, max) in checks {
            if value == 0 || value > max {
                let range = if max == u64::MAX {
                    "at least 1".to_string()
                } else {
                    format!("from 1 to {max}")
                };
                return Err(ValidationError::at(
                    format!("limits.{key}"),
                    format!("must be {range}, got {value}"),
                ));
            }
        }
        Ok(())
    }
}

/// A protocol key that is present enables the protocol, even when written with nothing
/// under it (`grpc:`, a YAML null): that means "with defaults", as in the Collector.
fn enabled_when_listed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

fn default_endpoint(text: &str) -> Endpoint {
    // Only ever called with the constants above, which are valid host:port pairs.
    Endpoint::new(text).expect("default endpoint is valid")
}
