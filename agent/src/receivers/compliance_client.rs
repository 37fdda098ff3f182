//! The client side of the receivers' compliance tests: free loopback ports and one HTTP
//! request whose answer becomes a [`ClientOutcome`].

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use sentinel_pipeline::testing::{ClientOutcome, PATIENCE};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// POSTs `body` on a fresh HTTP/1.1 connection. 200 is "accepted" for `items`; 429 and
/// 503 are retryable refusals; anything else fails the test.
pub async fn post(
    address: SocketAddr,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    items: u64,
) -> ClientOutcome {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(address).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = Request::post(format!("http://{address}{path}"))
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let text = response.into_body().collect().await?.to_bytes();
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, retry_after, text))
    };
    let (status, retry_after, text) = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the receiver answers in time")
        .unwrap_or_else(|err| panic!("POST {address}{path} failed: {err}"));
    match status {
        200 => ClientOutcome::Accepted(items),
        429 | 503 => ClientOutcome::Refused {
            retry_hint: retry_after,
        },
        other => panic!("POST {path}: unexpected status {other}: {text:?}"),
    }
}
