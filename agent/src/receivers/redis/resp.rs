//! The little of RESP (the Redis protocol) the receiver needs: send a command as an
//! array of bulk strings, read one reply. Replies are bounded so a confused or hostile
//! peer cannot make the agent allocate without limit.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::receivers::database::tls::DirectTls;

/// Longest status line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Largest bulk string accepted (`INFO` is a few KiB).
const MAX_BULK: i64 = 4 * 1024 * 1024;
/// Most elements of an array reply accepted.
const MAX_ARRAY: i64 = 1024;

/// One reply. Nested arrays are not needed here and are refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    /// `None` is the null bulk string.
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// A plain TCP or a TLS stream.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub struct Connection {
    stream: BufReader<Box<dyn Stream>>,
}

impl Connection {
    /// Connects to `address` (`host:port`), over TLS when `tls` is set (Redis speaks TLS
    /// from the first byte, there is no upgrade command).
    pub async fn connect(address: &str, tls: Option<&DirectTls>) -> Result<Connection, RespError> {
        let tcp = TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(tls) => {
                let connector = TlsConnector::from(tls.config.clone());
                Box::new(connector.connect(tls.server_name.clone(), tcp).await?)
            }
        };
        Ok(Connection {
            stream: BufReader::new(stream),
        })
    }

    /// Sends `args` as one command and reads its reply.
    pub async fn command(&mut self, args: &[&str]) -> Result<Reply, RespError> {
        self.stream.get_mut().write_all(&encode(args)).await?;
        let line = self.line().await?;
        match self.scalar(&line).await? {
            Some(reply) => Ok(reply),
            None => {
                let count = length(&line[1..], MAX_ARRAY)?;
                let mut items = Vec::with_capacity(count.max(0) as usize);
                for _ in 0..count {
                    let line = self.line().await?;
                    let item = self.scalar(&line).await?.ok_or_else(|| {
                        RespError::Protocol("nested arrays are not expected".to_string())
                    })?;
                    items.push(item);
                }
                Ok(Reply::Array(items))
            }
        }
    }

    /// A reply of one line (plus a bulk body), or `None` for an array header.
    async fn scalar(&mut self, line: &str) -> Result<Option<Reply>, RespError> {
        let (kind, rest) = line.split_at(1);
        Ok(Some(match kind {
            "+" => Reply::Status(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Integer(
                rest.parse()
                    .map_err(|_| RespError::Protocol(format!("bad integer {rest:?}")))?,
            ),
            "$" => {
                let len = length(rest, MAX_BULK)?;
                if len < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut body = vec![0; len as usize + 2];
                    self.stream.read_exact(&mut body).await?;
                    body.truncate(len as usize);
                    Reply::Bulk(Some(body))
                }
            }
            "*" => return Ok(None),
            _ => return Err(RespError::Protocol(format!("unexpected reply {line:?}"))),
        }))
    }

    async fn line(&mut self) -> Result<String, RespError> {
        let mut bytes = Vec::new();
        (&mut self.stream)
            .take(MAX_LINE)
            .read_until(b'\n', &mut bytes)
            .await?;
        if !bytes.ends_with(b"\r\n") || bytes.len() < 3 {
            return Err(RespError::Protocol(if bytes.is_empty() {
                "connection closed by the server".to_string()
            } else {
                "reply line too long or cut short".to_string()
            }));
        }
        bytes.truncate(bytes.len() - 2);
        String::from_utf8(bytes).map_err(|_| RespError::Protocol("reply is not UTF-8".into()))
    }
}

/// A length prefix: `-1` (null) up to `max`.
fn length(text: &str, max: i64) -> Result<i64, RespError> {
    match text.parse::<i64>() {
        Ok(n) if (-1..=max).contains(&n) => Ok(n),
        _ => Err(RespError::Protocol(format!(
            "length {text:?} out of range (at most {max})"
        ))),
    }
}

/// `args` as a RESP array of bulk strings.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `INFO` output as `field → value` (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> std::collections::HashMap<&str, &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        assert_eq!(
            encode(&["CONFIG", "GET", "maxclients"]),
            b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nmaxclients\r\n"
        );
    }

    #[test]
    fn parses_info_fields() {
        let info =
            parse_info("# Clients\r\nconnected_clients:3\r\n\r\n# Memory\r\nused_memory:1024\r\n");
        assert_eq!(info.get("connected_clients"), Some(&"3"));
        assert_eq!(info.get("used_memory"), Some(&"1024"));
        assert_eq!(info.len(), 2);
    }

    #[test]
    fn lengths_are_bounded() {
        assert!(length("5", MAX_BULK).is_ok());
        assert!(length("-1", MAX_BULK).is_ok());
        assert!(length("-2", MAX_BULK).is_err());
        assert!(length("999999999999", MAX_BULK).is_err());
    }
}
