//! Request bodies charged against the memory budgets while they arrive and while they
//! inflate, so that stalled uploads and unfinished gRPC messages hold budget, not
//! unaccounted memory: once the budget is spent, further bodies are refused (HTTP 429,
//! gRPC `RESOURCE_EXHAUSTED`) instead of buffered.

use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::Request;

use super::body::{declared_length, zstd_window_log_max, BoxError, ReadError};
use super::{BodyError, Compression};
use crate::admission::Admission;

/// Reads the body of `request`, at most `limit` bytes, charging `admission` for it: a
/// declared `Content-Length` up front (a full budget refuses before anything is read),
/// the rest as bytes arrive.
pub async fn read_body_charged<B>(
    request: Request<B>,
    limit: usize,
    admission: &mut Admission,
) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let declared = declared_length(request.headers());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let declared = declared.map_or(0, |len| len as usize);
    let base = admission.bytes();
    admission
        .grow_to(base + declared)
        .map_err(BodyError::OverBudget)?;
    let mut body = std::pin::pin!(request.into_body());
    let mut buf = BytesMut::with_capacity(declared);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.into()))?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.remaining() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        let total = base + declared.max(buf.len() + data.remaining());
        admission.grow_to(total).map_err(BodyError::OverBudget)?;
        while data.has_remaining() {
            let chunk = data.chunk();
            buf.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
    }
    admission
        .grow_to(base + buf.len())
        .map_err(BodyError::OverBudget)?;
    Ok(buf.freeze())
}

/// [`super::decompress`] charging `admission` for the inflated bytes as they are
/// produced; once done, the compressed body is dropped and only the inflated one stays
/// charged (on top of what `admission` held before the body).
pub fn decompress_charged(
    compression: Compression,
    body: Bytes,
    limit: usize,
    admission: &mut Admission,
) -> Result<Bytes, BodyError> {
    let before = admission.bytes().saturating_sub(body.len());
    let inflated = match compression {
        Compression::None => return Ok(body),
        Compression::Gzip => read_chunks_charged(
            flate2::read::MultiGzDecoder::new(&body[..]),
            limit,
            admission,
        )
        .map_err(|e| e.or_corrupt("gzip"))?,
        Compression::Zstd => {
            let corrupt = |source| BodyError::Corrupt {
                encoding: "zstd",
                source,
            };
            // The decoder's window is memory too: charged before it is allocated.
            let window = zstd_window_size(&body).min(1 << zstd_window_log_max(limit));
            admission
                .grow_to(admission.bytes() + window)
                .map_err(BodyError::OverBudget)?;
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(&body[..]).map_err(corrupt)?;
            decoder
                .window_log_max(zstd_window_log_max(limit))
                .map_err(corrupt)?;
            read_chunks_charged(decoder, limit, admission).map_err(|e| e.or_corrupt("zstd"))?
        }
    };
    drop(body);
    admission
        .grow_to(before + inflated.len())
        .map_err(BodyError::OverBudget)?;
    Ok(Bytes::from(inflated))
}

/// The window the first zstd frame of `body` asks for (RFC 8878 §3.1.1.1.2): the buffer a
/// decoder allocates. Unreadable headers count as the smallest window; the decoder then
/// rejects the body itself.
fn zstd_window_size(body: &[u8]) -> usize {
    const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
    const MIN_WINDOW: usize = 1 << 10;
    let Some(descriptor) = body.get(4).filter(|_| body.starts_with(&MAGIC)) else {
        return MIN_WINDOW;
    };
    let single_segment = descriptor & 0x20 != 0;
    if single_segment {
        // The window is the frame's content size, stored after the descriptor.
        let size_bytes = match descriptor >> 6 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let Some(field) = body.get(5..5 + size_bytes) else {
            return MIN_WINDOW;
        };
        let mut size = field
            .iter()
            .rev()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        if size_bytes == 2 {
            size += 256;
        }
        return usize::try_from(size).unwrap_or(usize::MAX).max(MIN_WINDOW);
    }
    let Some(window_descriptor) = body.get(5) else {
        return MIN_WINDOW;
    };
    let log = 10 + u32::from(window_descriptor >> 3);
    let base = 1usize.checked_shl(log).unwrap_or(usize::MAX);
    base.saturating_add(base / 8 * usize::from(window_descriptor & 7))
}

/// A body whose data frames are charged to a shared admission as they arrive (gRPC:
/// the handler takes the charge over once the message is complete). Over budget, the
/// body fails with [`BodyError::OverBudget`].
pub struct ChargedBody<B> {
    inner: Pin<Box<B>>,
    charge: Arc<Mutex<Admission>>,
}

impl<B> ChargedBody<B> {
    pub fn new(inner: B, charge: Arc<Mutex<Admission>>) -> Self {
        ChargedBody {
            inner: Box::pin(inner),
            charge,
        }
    }
}

/// Takes the charge out of a shared admission (see [`Admission::take`]).
pub fn take_charge(charge: &Mutex<Admission>) -> Admission {
    charge.lock().unwrap_or_else(PoisonError::into_inner).take()
}

impl<B> Body for ChargedBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let frame = match ready!(self.inner.as_mut().poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let mut charge = self.charge.lock().unwrap_or_else(PoisonError::into_inner);
            let total = charge.bytes().saturating_add(data.remaining());
            if let Err(refusal) = charge.grow_to(total) {
                return Poll::Ready(Some(Err(Box::new(BodyError::OverBudget(refusal)))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads `reader` to its end in chunks, at most `limit` bytes, charging `admission`
/// for the output's capacity before it is allocated (and for the old buffer too while a
/// growth copies it), so a bomb's inflation never runs ahead of the budget.
pub(super) fn read_chunks_charged(
    mut reader: impl Read,
    limit: usize,
    admission: &mut Admission,
) -> Result<Vec<u8>, ReadError> {
    const CHUNK: usize = 256 * 1024;
    let base = admission.bytes();
    let mut out: Vec<u8> = Vec::new();
    loop {
        let want = out.len() + CHUNK;
        if want > out.capacity() {
            let old = out.capacity();
            let new = want
                .max(old * 2)
                .min(limit.saturating_add(1))
                .max(want.min(limit + 1));
            admission
                .grow_to(base + old + new)
                .map_err(ReadError::OverBudget)?;
            out.reserve_exact(new.saturating_sub(out.len()));
            admission
                .grow_to(base + out.capacity())
                .map_err(ReadError::OverBudget)?;
        }
        let before = out.len();
        let room = (out.capacity() - out.len()).min(CHUNK) as u64;
        (&mut reader)
            .take(room.max(1))
            .read_to_end(&mut out)
            .map_err(ReadError::Io)?;
        if out.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        if out.len() == before {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod window_tests {
    use super::zstd_window_size;

    #[test]
    fn the_zstd_window_is_read_from_the_frame_header() {
        let data = vec![7u8; 100_000];
        // One-shot compression knows the content size: a single-segment frame.
        let single = zstd::bulk::compress(&data, 3).unwrap();
        assert_eq!(zstd_window_size(&single), 100_000);
        // Streaming compression does not: the frame names a window of 2^n (+ fraction).
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
        for chunk in data.chunks(1000) {
            std::io::Write::write_all(&mut encoder, chunk).unwrap();
            std::io::Write::flush(&mut encoder).unwrap();
        }
        let streamed = encoder.finish().unwrap();
        let window = zstd_window_size(&streamed);
        assert!((1 << 17..=1 << 27).contains(&window), "{window}");
        assert_eq!(zstd_window_size(b"not zstd"), 1 << 10);
    }
}
