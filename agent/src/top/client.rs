//! A blocking HTTP/1.1 client of the admin address, with the bearer token when one is set.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable naming the admin token file (when `--token-file` is not given).
pub const TOKEN_FILE_ENV: &str = "SENTINEL_ADMIN_TOKEN_FILE";

/// Why talking to the admin address failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the agent's admin address {address}: {source} (is the agent running? \
         --admin names its `service.telemetry.metrics.address`)"
    )]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot read the admin token file {path}: {source}")]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the agent answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the agent's answer is not a status snapshot: {0}")]
    Decode(#[from] serde_json::Error),
}

/// The admin address and the token to send.
pub struct AdminClient {
    address: String,
    token: Option<String>,
}

impl AdminClient {
    /// `admin` is `HOST:PORT` or `http://HOST:PORT`; the token comes from `token_file`, or
    /// the file `SENTINEL_ADMIN_TOKEN_FILE` names.
    pub fn new(admin: &str, token_file: Option<&Path>) -> Result<AdminClient, ClientError> {
        let address = admin
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let from_env = std::env::var_os(TOKEN_FILE_ENV).map(PathBuf::from);
        let token = match token_file.map(Path::to_path_buf).or(from_env) {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|source| ClientError::Token { path, source })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        Ok(AdminClient { address, token })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// `GET path`; the body of a 2xx answer, else [`ClientError::Status`].
    pub fn get(&self, path: &str, read_timeout: Duration) -> Result<String, ClientError> {
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = AdminRequest {
            method: "GET",
            path,
            headers: &auth,
            body: None,
            read_timeout,
        };
        let (status, body) =
            exchange(&self.address, &request).map_err(|source| ClientError::Connect {
                address: self.address.clone(),
                source,
            })?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Status {
                status,
                body: body.trim().to_string(),
            });
        }
        Ok(body)
    }
}

/// One request to the admin address (`top`, `tap`, `alerts silence`).
pub struct AdminRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Extra header lines, each ending in `\r\n` (the `Authorization` line).
    pub headers: &'a str,
    /// A JSON body, sent with its length.
    pub body: Option<&'a [u8]>,
    pub read_timeout: Duration,
}

/// One blocking HTTP/1.1 exchange with `address`: the status and the (de-chunked) body.
pub fn exchange(address: &str, request: &AdminRequest<'_>) -> std::io::Result<(u16, String)> {
    let addr = address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the name has no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(request.read_timeout))?;
    let body_headers = request.body.map_or(String::new(), |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    let head = format!(
        "{} {} HTTP/1.1\r\nHost: {address}\r\n{body_headers}{}Connection: close\r\n\r\n",
        request.method, request.path, request.headers
    );
    stream.write_all(head.as_bytes())?;
    if let Some(body) = request.body {
        stream.write_all(body)?;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let (Some(chunk), Some(after)) = (rest.get(..size), rest.get(size..)) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(chunk);
        body = after.trim_start_matches("\r\n");
    }
    out
}
