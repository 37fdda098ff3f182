//! Request bodies under a size limit: reading, and inflating gzip or zstd without ever
//! producing more than the limit.

use std::error::Error;
use std::io::Read;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderMap};
use hyper::Request;

pub(super) type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Declared, received or inflated: answered `413`.
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed or the client stopped sending mid-body.
    #[error("cannot read the body: {0}")]
    Read(#[source] BoxError),
    #[error("cannot decompress the {encoding} body: {source}")]
    Corrupt {
        encoding: &'static str,
        source: std::io::Error,
    },
    /// The memory budget cannot take the body as it arrives or inflates: answered 429 /
    /// `RESOURCE_EXHAUSTED`, retryable.
    #[error("{0}")]
    OverBudget(crate::Refusal),
}

/// Reads the body of `request`, at most `limit` bytes. A declared `Content-Length` over
/// the limit is refused before anything is read; chunked and HTTP/2 bodies have no
/// declared length, and a declared one may lie, so the limit also applies as bytes arrive.
pub async fn read_body<B>(request: Request<B>, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let too_large = BodyError::TooLarge { limit };
    if declared_length(request.headers()).is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large),
        Err(err) => Err(BodyError::Read(err)),
    }
}

pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// How a request body is compressed (`Content-Encoding`, `grpc-encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A `Content-Encoding` that is not one of [`Compression`]; holds the header's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported content encoding {0:?}")]
pub struct UnsupportedEncoding(pub String);

impl Compression {
    /// Parses a `Content-Encoding` value; `None` when it is not one we accept.
    pub fn from_header(value: &str) -> Option<Compression> {
        match value.trim() {
            "" | "identity" => Some(Compression::None),
            v if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => {
                Some(Compression::Gzip)
            }
            v if v.eq_ignore_ascii_case("zstd") => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The `Content-Encoding` of a request; no header is no compression.
    pub fn of(headers: &HeaderMap) -> Result<Compression, UnsupportedEncoding> {
        let Some(value) = headers.get(header::CONTENT_ENCODING) else {
            return Ok(Compression::None);
        };
        value
            .to_str()
            .ok()
            .and_then(Compression::from_header)
            .ok_or_else(|| UnsupportedEncoding(String::from_utf8_lossy(value.as_bytes()).into()))
    }
}

/// Decompresses `body`, refusing as soon as the output would exceed `limit` bytes: a
/// small "bomb" is never inflated past the limit. An uncompressed body is returned as it
/// is (its size was checked when it was read); a compressed one is dropped once inflated.
pub fn decompress(compression: Compression, body: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    let inflated = match compression {
        Compression::None => return Ok(body),
        Compression::Gzip => read_limited(
            flate2::read::MultiGzDecoder::new(&body[..]),
            limit,
            body.len(),
        )
        .map_err(|e| e.or_corrupt("gzip"))?,
        Compression::Zstd => {
            let corrupt = |source| BodyError::Corrupt {
                encoding: "zstd",
                source,
            };
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(&body[..]).map_err(corrupt)?;
            // A frame may ask for a window of up to 2^27 bytes that the decoder allocates
            // up front. A valid body within `limit` never needs more than the limit, but
            // streaming encoders announce up to 8 MiB (2^23) whatever the size.
            decoder
                .window_log_max(zstd_window_log_max(limit))
                .map_err(corrupt)?;
            read_limited(decoder, limit, body.len()).map_err(|e| e.or_corrupt("zstd"))?
        }
    };
    Ok(Bytes::from(inflated))
}

pub(super) fn zstd_window_log_max(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(23, 27)
}

pub(super) enum ReadError {
    TooLarge { limit: usize },
    Io(std::io::Error),
    OverBudget(crate::Refusal),
}

impl ReadError {
    pub(super) fn or_corrupt(self, encoding: &'static str) -> BodyError {
        match self {
            ReadError::TooLarge { limit } => BodyError::TooLarge { limit },
            ReadError::OverBudget(refusal) => BodyError::OverBudget(refusal),
            ReadError::Io(source) => BodyError::Corrupt { encoding, source },
        }
    }
}

/// Reads at most `limit + 1` bytes from `reader`; more than `limit` is an error.
pub(super) fn read_limited(
    reader: impl Read,
    limit: usize,
    compressed_len: usize,
) -> Result<Vec<u8>, ReadError> {
    // Telemetry compresses about 5-10x; start there to avoid most regrowth.
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(8).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(out)
}
