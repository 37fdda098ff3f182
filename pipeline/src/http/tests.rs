//! The shared server over real sockets, body limits and decompression, and refusals.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::RequestBody;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::body::read_limited;
use super::respond::{self, HttpResponse, PLAIN_TEXT};
use super::*;
use crate::Refusal;

const PATIENCE: Duration = Duration::from_secs(10);

struct Running {
    address: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

fn start<H, F>(server: HttpServer, handler: H) -> Running
where
    H: Fn(Request<RequestBody>) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = HttpResponse> + Send + 'static,
{
    let listener = bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.serve(listener, handler, shutdown.clone()));
    Running {
        address,
        shutdown,
        task,
    }
}

/// Answers with the body it read, or the error as text.
async fn echo_under(limit: usize, request: Request<RequestBody>) -> HttpResponse {
    match read_body(request, limit).await {
        Ok(body) => respond::respond(StatusCode::OK, PLAIN_TEXT, body),
        Err(err @ BodyError::TooLarge { .. }) => {
            respond::plain(StatusCode::PAYLOAD_TOO_LARGE, &err.to_string())
        }
        Err(err) => respond::plain(StatusCode::BAD_REQUEST, &err.to_string()),
    }
}

/// Sends raw HTTP/1.1 and reads until the server closes the connection.
async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("the server answers and closes");
    String::from_utf8_lossy(&response).into_owned()
}

fn post(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn bodies_within_the_limit_are_read() {
    let server = start(HttpServer::new("test"), |r| echo_under(16, r));
    let reply = exchange(server.address, &post("hello")).await;
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("content-type: text/plain; charset=utf-8\r\n"));
    assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_the_body_is_sent() {
    let server = start(HttpServer::new("test"), |r| echo_under(16, r));
    // Headers only: the answer comes without the client sending a byte of body.
    let headers =
        b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 1000000\r\n\r\n";
    let reply = exchange(server.address, headers).await;
    assert!(reply.starts_with("HTTP/1.1 413 "), "{reply}");
    assert!(
        reply.ends_with("request body is larger than 16 bytes"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let server = start(HttpServer::new("test"), |r| echo_under(16, r));
    let chunked =
        b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n\
        10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n";
    let reply = exchange(server.address, chunked).await;
    assert!(reply.starts_with("HTTP/1.1 413 "), "{reply}");
}

#[tokio::test]
async fn a_lying_content_length_does_not_lift_the_limit() {
    let request = Request::builder()
        .header("content-length", "3")
        .body(Full::new(Bytes::from(vec![b'a'; 100])))
        .unwrap();
    assert!(matches!(
        read_body(request, 10).await,
        Err(BodyError::TooLarge { limit: 10 })
    ));
    // An unparsable length is no length: the limit still applies to what arrives.
    let request = Request::builder()
        .header("content-length", "many")
        .body(Full::new(Bytes::from_static(b"fits")))
        .unwrap();
    assert_eq!(read_body(request, 10).await.unwrap(), "fits");
}

#[tokio::test]
async fn shutdown_closes_the_listener_and_answers_the_in_flight_request() {
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let handler_release = release.clone();
    let handler = move |_request| {
        let (entered, release) = (entered_tx.clone(), handler_release.clone());
        async move {
            entered.send(()).unwrap();
            release.notified().await;
            respond::plain(StatusCode::OK, "done")
        }
    };
    let server = start(HttpServer::new("test").drain_timeout(None), handler);
    let address = server.address;
    let in_flight = tokio::spawn(async move { exchange(address, &post("")).await });
    entered.recv().await.unwrap();

    server.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.task.is_finished(),
        "waits for the in-flight request"
    );
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );

    release.notify_one();
    assert!(in_flight.await.unwrap().ends_with("done"));
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("the accept loop ends once the request is answered")
        .unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_does_not_hold_shutdown() {
    let server = start(HttpServer::new("test"), |r| echo_under(16, r));
    let mut idle = TcpStream::connect(server.address).await.unwrap();
    let keep_alive = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi";
    idle.write_all(keep_alive).await.unwrap();
    let mut first = [0u8; 512];
    let n = idle.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).ends_with("hi"));

    server.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), server.task)
        .await
        .expect("the idle connection is closed at once")
        .unwrap();
}

#[tokio::test]
async fn the_drain_is_bounded() {
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let handler = move |_request| {
        let entered = entered_tx.clone();
        async move {
            entered.send(()).unwrap();
            std::future::pending::<HttpResponse>().await
        }
    };
    let server = start(
        HttpServer::new("test").drain_timeout(Some(Duration::from_millis(100))),
        handler,
    );
    let address = server.address;
    let stuck = tokio::spawn(async move { exchange(address, &post("")).await });
    entered.recv().await.unwrap();

    server.shutdown.cancel();
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("gives up on the stuck request after the drain timeout")
        .unwrap();
    assert_eq!(
        stuck.await.unwrap(),
        "",
        "the connection was closed unanswered"
    );
}

#[test]
fn refusals_are_429_or_503_with_retry_after() {
    let mut capacity = Refusal::capacity("queue full");
    capacity.retry_after = Some(Duration::from_millis(1500));
    let response = respond::refused(&capacity, respond::JSON, "{}");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(response.headers()["content-type"], "application/json");

    let mut unavailable = Refusal::unavailable("stopping");
    unavailable.retry_after = None;
    let response = respond::refused(&unavailable, PLAIN_TEXT, "stopping");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["retry-after"],
        "1",
        "one second by default"
    );

    assert_eq!(respond::retry_after_seconds(Duration::ZERO), 1);
    assert_eq!(respond::retry_after_seconds(Duration::from_secs(3)), 3);
}

#[test]
fn content_encodings() {
    assert_eq!(Compression::from_header(""), Some(Compression::None));
    assert_eq!(
        Compression::from_header("identity"),
        Some(Compression::None)
    );
    assert_eq!(Compression::from_header("GZIP"), Some(Compression::Gzip));
    assert_eq!(Compression::from_header("zstd"), Some(Compression::Zstd));
    assert_eq!(Compression::from_header("br"), None);
    assert_eq!(Compression::from_header("gzip, zstd"), None);

    let mut headers = hyper::HeaderMap::new();
    assert_eq!(Compression::of(&headers), Ok(Compression::None));
    headers.insert("content-encoding", "br".parse().unwrap());
    assert_eq!(
        Compression::of(&headers),
        Err(UnsupportedEncoding("br".into()))
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// Counts the bytes a reader hands out.
struct Counting<R> {
    inner: R,
    produced: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced.set(self.produced.get() + n);
        Ok(n)
    }
}

#[test]
fn decompression_stops_at_the_limit() {
    let limit = 1024 * 1024;
    let bomb = gzip(&vec![0u8; 50 * 1024 * 1024]);
    assert!(
        bomb.len() < 100 * 1024,
        "50 MiB of zeros gzip to {} bytes",
        bomb.len()
    );
    let produced = std::rc::Rc::default();
    let reader = Counting {
        inner: flate2::read::MultiGzDecoder::new(&bomb[..]),
        produced: std::rc::Rc::clone(&produced),
    };
    assert!(read_limited(reader, limit, bomb.len()).is_err());
    // Inflated at most one read buffer past the limit, not 50 MiB.
    assert!(
        produced.get() <= limit + 64 * 1024,
        "inflated {} bytes",
        produced.get()
    );

    for compression in [Compression::Gzip, Compression::Zstd] {
        let data = vec![7u8; limit + 1];
        let compressed = Bytes::from(match compression {
            Compression::Gzip => gzip(&data),
            _ => zstd(&data),
        });
        assert!(matches!(
            decompress(compression, compressed.clone(), limit),
            Err(BodyError::TooLarge { .. })
        ));
        let fits = decompress(compression, compressed, limit + 1).unwrap();
        assert_eq!(fits, data);
    }
    assert_eq!(
        decompress(Compression::None, Bytes::from_static(b"raw"), 1).unwrap(),
        "raw"
    );
}

#[test]
fn a_corrupt_body_names_its_encoding() {
    let err = decompress(Compression::Gzip, Bytes::from_static(b"not gzip"), 1024).unwrap_err();
    assert!(matches!(
        err,
        BodyError::Corrupt {
            encoding: "gzip",
            ..
        }
    ));
    assert!(err
        .to_string()
        .starts_with("cannot decompress the gzip body: "));
}
