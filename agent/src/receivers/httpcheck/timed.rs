//! A stream wrapper that notes when the request was last written and when the response's
//! first and last bytes arrived: hyper hides both moments, and they split a probe's time
//! into writing the request, the server's wait and reading the response.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the wrapper saw, shared with the probe while hyper owns the stream.
#[derive(Debug, Default, Clone, Copy)]
pub struct Marks {
    /// The last write before the first response byte.
    pub last_write: Option<Instant>,
    pub first_read: Option<Instant>,
}

pub type SharedMarks = Arc<Mutex<Marks>>;

/// Reads [`Marks`] even if a panicking holder poisoned the lock (they are plain data).
pub fn read(marks: &SharedMarks) -> Marks {
    *marks
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct Timed<S> {
    inner: S,
    marks: SharedMarks,
}

impl<S> Timed<S> {
    pub fn new(inner: S) -> (Self, SharedMarks) {
        let marks = SharedMarks::default();
        (
            Timed {
                inner,
                marks: marks.clone(),
            },
            marks,
        )
    }

    fn note(&self, f: impl FnOnce(&mut Marks)) {
        f(&mut self.marks.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Writes after the response began (none in HTTP/1.1 without pipelining) do not
    /// move the request's end.
    fn wrote(&self) {
        self.note(|m| {
            if m.first_read.is_none() {
                m.last_write = Some(Instant::now());
            }
        });
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.note(|m| {
                m.first_read.get_or_insert_with(Instant::now);
            });
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
