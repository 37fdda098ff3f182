//! A COPY BINARY writer that encodes rows into large chunks and hands each chunk to the
//! connection without waiting for it to be written: the next rows are encoded while the
//! connection task sends the previous chunk (tokio-postgres's own writer flushes, and
//! waits, every 4 KiB).

use std::pin::Pin;

use bytes::{BufMut, Bytes, BytesMut};
use futures::SinkExt;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::CopyInSink;

/// Bytes encoded before a chunk is handed to the connection.
const CHUNK_BYTES: usize = 256 << 10;

/// Why a write failed: the database, or a value that has no COPY BINARY encoding.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Pg(#[from] tokio_postgres::Error),
    #[error("cannot encode a value of column {column} for COPY: {message}")]
    Encode { column: usize, message: String },
}

/// Rows of one `COPY ... FROM STDIN (FORMAT binary)`.
pub struct CopyWriter {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    types: &'static [Type],
    buf: BytesMut,
}

impl CopyWriter {
    pub fn new(sink: CopyInSink<Bytes>, types: &'static [Type]) -> CopyWriter {
        let mut buf = BytesMut::with_capacity(CHUNK_BYTES + (CHUNK_BYTES >> 2));
        buf.put_slice(b"PGCOPY\n\xff\r\n\0");
        buf.put_i32(0); // flags
        buf.put_i32(0); // header extension length
        CopyWriter {
            sink: Box::pin(sink),
            types,
            buf,
        }
    }

    /// Encodes one row; hands the chunk over once it is large.
    pub async fn write(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), WriteError> {
        self.encode_row(values)?;
        if self.buf.len() >= CHUNK_BYTES {
            let chunk = self.buf.split().freeze();
            // `feed` queues the chunk for the connection task without waiting for the
            // socket write; only a full channel makes it wait.
            self.sink.as_mut().feed(chunk).await?;
            self.buf.reserve(CHUNK_BYTES + (CHUNK_BYTES >> 2));
        }
        Ok(())
    }

    fn encode_row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), WriteError> {
        debug_assert_eq!(values.len(), self.types.len());
        self.buf.put_i16(values.len() as i16);
        for (column, (value, ty)) in values.iter().zip(self.types).enumerate() {
            let at = self.buf.len();
            self.buf.put_i32(-1);
            let encoded =
                value
                    .to_sql_checked(ty, &mut self.buf)
                    .map_err(|e| WriteError::Encode {
                        column,
                        message: e.to_string(),
                    })?;
            if let IsNull::No = encoded {
                let len = self.buf.len() - at - 4;
                let len = i32::try_from(len).map_err(|_| WriteError::Encode {
                    column,
                    message: format!("{len} bytes is more than COPY takes"),
                })?;
                self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
        Ok(())
    }

    /// Sends the trailer and completes the COPY; returns the rows the server took.
    pub async fn finish(mut self) -> Result<u64, WriteError> {
        self.buf.put_i16(-1);
        let rest = self.buf.split().freeze();
        self.sink.as_mut().feed(rest).await?;
        Ok(self.sink.as_mut().finish().await?)
    }
}
