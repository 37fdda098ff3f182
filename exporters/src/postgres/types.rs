//! Binary encodings tokio-postgres has no type for without extra crate features, and the
//! per-export context rows are built with (cleaner, timestamp clamp, counters).

use std::error::Error;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use super::sanitize::Cleaner;

type BoxError = Box<dyn Error + Sync + Send>;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// A `timestamptz` from microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp(pub i64);

impl ToSql for Timestamp {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0 - PG_EPOCH_OFFSET_US);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP
    }
    to_sql_checked!();
}

/// A `uuid` from 16 raw bytes (trace ids, queue ids).
#[derive(Debug, Clone, Copy)]
pub struct Uuid(pub [u8; 16]);

impl ToSql for Uuid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
    to_sql_checked!();
}

/// A `jsonb` value from JSON text we built (so known to be valid).
#[derive(Debug, Clone, Copy)]
pub struct Jsonb<'a>(pub &'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_u8(1); // jsonb binary format version
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
    to_sql_checked!();
}

/// A 16-byte trace id as a uuid; ids of another length (invalid OTLP) become all zeros
/// padded or cut, so the row is still stored.
pub fn trace_uuid(id: &[u8]) -> Uuid {
    let mut bytes = [0u8; 16];
    let n = id.len().min(16);
    bytes[..n].copy_from_slice(&id[..n]);
    Uuid(bytes)
}

/// Empty ids (no parent, no trace context) are NULL.
pub fn optional_id(id: &[u8]) -> Option<&[u8]> {
    (!id.is_empty() && id.iter().any(|b| *b != 0)).then_some(id)
}

/// What one export's rows share: string cleaning, the timestamp range partitions exist
/// for, and what was changed to fit.
pub struct RowContext {
    pub cleaner: Cleaner,
    /// First and last microsecond a row may carry.
    pub range: (i64, i64),
    pub clamped: u64,
    pub truncated_rows: u64,
}

impl RowContext {
    pub fn new(max_value_bytes: usize, range: (i64, i64)) -> RowContext {
        RowContext {
            cleaner: Cleaner::new(max_value_bytes),
            range,
            clamped: 0,
            truncated_rows: 0,
        }
    }

    /// Nanoseconds since the epoch as a timestamp inside the partitioned range.
    pub fn clamp(&mut self, unix_nanos: u64) -> Timestamp {
        let micros = (unix_nanos / 1000).min(i64::MAX as u64) as i64;
        let clamped = micros.clamp(self.range.0, self.range.1);
        if clamped != micros {
            self.clamped += 1;
        }
        Timestamp(clamped)
    }

    /// An optional timestamp (start or observed time): zero means unset; not clamped,
    /// since no partition depends on it, but kept within PostgreSQL's range.
    pub fn optional_time(&self, unix_nanos: u64) -> Option<Timestamp> {
        (unix_nanos > 0).then(|| Timestamp((unix_nanos / 1000).min(i64::MAX as u64 / 2) as i64))
    }

    /// Ends a row: flags the attributes JSON if anything in the row was cut.
    pub fn finish_row(&mut self, attributes: &mut String) {
        if self.cleaner.truncated {
            Cleaner::flag_truncated(attributes);
            self.truncated_rows += 1;
        }
        self.cleaner.reset();
    }
}
