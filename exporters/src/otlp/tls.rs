//! TLS for the gRPC channel, with the rustls settings every Sentinel client builds from
//! its `tls` block ([`ClientTlsConfig`]), so `otlp` checks certificates the way the other
//! components do and honours `insecure_skip_verify`.
//!
//! tonic secures only the channels it configures itself and refuses `https://` URIs on
//! any other, so a TLS channel dials the `http://` form of the endpoint through
//! [`TlsDialer`], which secures every connection, while the channel's origin keeps
//! `https` as the requests' scheme.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use sentinel_pipeline::tls::{ClientTlsConfig, TlsError};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tonic::codegen::http::Uri;
use tonic::codegen::Service;

/// Opens TCP connections to the endpoint and secures them.
#[derive(Clone)]
pub struct TlsDialer {
    connector: TlsConnector,
    /// The name asked for and checked instead of the host (`server_name_override`).
    server_name: Option<ServerName<'static>>,
}

impl TlsDialer {
    pub fn new(tls: &ClientTlsConfig) -> Result<TlsDialer, TlsError> {
        let mut config = (*tls.rustls_config()?).clone();
        // gRPC servers (grpc-go among them) refuse TLS clients that do not offer HTTP/2.
        config.alpn_protocols = vec![b"h2".to_vec()];
        let server_name = match &tls.server_name_override {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| TlsError::BadServerName(name.clone()))?,
            ),
            None => None,
        };
        Ok(TlsDialer {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    async fn dial(self, uri: Uri) -> io::Result<TokioIo<TlsStream<TcpStream>>> {
        let host = uri.host().unwrap_or_default();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let server_name = match self.server_name {
            Some(name) => name,
            None => ServerName::try_from(host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        };
        let tcp = TcpStream::connect((host.as_str(), uri.port_u16().unwrap_or(443))).await?;
        tcp.set_nodelay(true)?;
        let stream = self.connector.connect(server_name, tcp).await?;
        Ok(TokioIo::new(stream))
    }
}

impl Service<Uri> for TlsDialer {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().dial(uri))
    }
}
