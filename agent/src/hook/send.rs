//! A blocking HTTP/1.1 POST with a hard time budget: enough for loopback, and far cheaper
//! to start than an async client.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a hook event did not reach the agent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("only http:// endpoints are supported: {0}")]
    UnsupportedScheme(String),
    #[error("bad endpoint {authority}: {source}")]
    BadEndpoint {
        authority: String,
        source: std::io::Error,
    },
    #[error("no address for {0}")]
    NoAddress(String),
    #[error("timed out")]
    TimedOut,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer: {0}")]
    NoAnswer(std::io::Error),
    /// The three-digit status of a non-2xx answer.
    #[error("answered {0}")]
    Status(String),
}

/// Posts `body` as JSON to `url` (`http://host:port/path`), with `Authorization: Bearer
/// <token>` when a token is given. Ok on a 2xx answer.
pub fn post_json(
    url: &str,
    body: &[u8],
    token: Option<&str>,
    budget: Duration,
) -> Result<(), SendError> {
    let deadline = Instant::now() + budget;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| SendError::UnsupportedScheme(url.to_string()))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|source| SendError::BadEndpoint {
            authority: authority.to_string(),
            source,
        })?
        .next()
        .ok_or_else(|| SendError::NoAddress(authority.to_string()))?;
    let remaining = |deadline: Instant| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(SendError::TimedOut)
    };
    let mut stream = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
    stream.set_nodelay(true).ok();
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))?;
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    // The status line is all we need: "HTTP/1.1 200 OK".
    let mut status = [0u8; 12];
    stream
        .read_exact(&mut status)
        .map_err(SendError::NoAnswer)?;
    match &status[9..10] {
        b"2" => Ok(()),
        _ => Err(SendError::Status(
            String::from_utf8_lossy(&status[9..12]).into_owned(),
        )),
    }
}
