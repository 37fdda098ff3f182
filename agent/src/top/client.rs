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
        let connect = |source| ClientError::Connect {
            address: self.address.clone(),
            source,
        };
        let addr = self
            .address
            .to_socket_addrs()
            .map_err(connect)?
            .next()
            .ok_or_else(|| connect(std::io::Error::other("the name has no address")))?;
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(connect)?;
        stream
            .set_read_timeout(Some(read_timeout))
            .map_err(connect)?;
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
            self.address
        );
        stream.write_all(head.as_bytes()).map_err(connect)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map_err(connect)?;
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        if !(200..300).contains(&status) {
            return Err(ClientError::Status {
                status,
                body: body.trim().to_string(),
            });
        }
        Ok(body)
    }
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
