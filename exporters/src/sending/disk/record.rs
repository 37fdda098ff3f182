//! The record format of segment files.
//!
//! A segment file starts with the 8 bytes [`SEGMENT_MAGIC`] and holds records back to back.
//! A record is a 36-byte header followed by the payload (all integers little endian):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 4 | magic `SQR1`, to find the next record after a damaged one |
//! | 4  | 4 | payload length in bytes (u32) |
//! | 8  | 4 | CRC32C (Castagnoli) of header bytes 12..36 followed by the payload |
//! | 12 | 8 | sequence number (u64), strictly increasing across the queue |
//! | 20 | 8 | append time, milliseconds since the Unix epoch (u64) |
//! | 28 | 4 | item count: spans, data points or log records (u32) |
//! | 32 | 1 | signal: 1 traces, 2 metrics, 3 logs |
//! | 33 | 3 | reserved, zero |
//! | 36 | n | payload: the protobuf-encoded OTLP export request |
//!
//! The checksum covers the sequence, time, items and signal as well as the payload, so a
//! damaged header is caught like a damaged payload.

use sentinel_pipeline::Signal;

/// The first bytes of every segment file (format version 1).
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"SNTQSEG1";
/// The first bytes of every record.
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"SQR1";
pub(crate) const HEADER_LEN: usize = 36;
/// Larger payloads are refused: no OTLP request a receiver accepts comes near this.
pub(crate) const MAX_PAYLOAD_LEN: usize = 64 << 20;

/// What a record says about its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub seq: u64,
    pub appended_ms: u64,
    pub items: u32,
    pub signal: Signal,
    pub payload_len: u32,
}

impl RecordHeader {
    /// Header plus payload.
    pub fn record_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }
}

pub(crate) fn signal_code(signal: Signal) -> u8 {
    match signal {
        Signal::Traces => 1,
        Signal::Metrics => 2,
        Signal::Logs => 3,
    }
}

fn signal_from_code(code: u8) -> Option<Signal> {
    match code {
        1 => Some(Signal::Traces),
        2 => Some(Signal::Metrics),
        3 => Some(Signal::Logs),
        _ => None,
    }
}

/// Appends one encoded record to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, header: &RecordHeader, payload: &[u8]) {
    debug_assert_eq!(header.payload_len as usize, payload.len());
    let start = out.len();
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&header.payload_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // checksum, filled in below
    out.extend_from_slice(&header.seq.to_le_bytes());
    out.extend_from_slice(&header.appended_ms.to_le_bytes());
    out.extend_from_slice(&header.items.to_le_bytes());
    out.push(signal_code(header.signal));
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + 12..]);
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// The result of reading a record at the start of a byte slice.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    Record {
        header: RecordHeader,
        payload: &'a [u8],
    },
    /// The slice ends before the record does.
    Incomplete,
    /// Not a valid record: wrong magic, impossible length, bad checksum or signal.
    Invalid,
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// What the header at the start of a byte slice says, before the checksum is checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    /// Magic, length, signal and reserved bytes are plausible and the whole record is in
    /// the slice; `crc` is the stored checksum of bytes 12..record_len.
    Plausible { header: RecordHeader, crc: u32 },
    /// The slice ends before the record does.
    Incomplete,
    /// Not a record header.
    Invalid,
}

/// Checks the header at the start of `buf` without reading the payload (O(1)).
pub(crate) fn check_header(buf: &[u8]) -> HeaderCheck {
    if buf.len() < RECORD_MAGIC.len() {
        return if RECORD_MAGIC.starts_with(buf) {
            HeaderCheck::Incomplete
        } else {
            HeaderCheck::Invalid
        };
    }
    if buf[..4] != RECORD_MAGIC {
        return HeaderCheck::Invalid;
    }
    if buf.len() < HEADER_LEN {
        return HeaderCheck::Incomplete;
    }
    let payload_len = u32_at(buf, 4);
    if payload_len as usize > MAX_PAYLOAD_LEN || buf[33..36] != [0; 3] {
        return HeaderCheck::Invalid;
    }
    let Some(signal) = signal_from_code(buf[32]) else {
        return HeaderCheck::Invalid;
    };
    if buf.len() < HEADER_LEN + payload_len as usize {
        return HeaderCheck::Incomplete;
    }
    HeaderCheck::Plausible {
        header: RecordHeader {
            seq: u64_at(buf, 12),
            appended_ms: u64_at(buf, 20),
            items: u32_at(buf, 28),
            signal,
            payload_len,
        },
        crc: u32_at(buf, 8),
    }
}

/// Reads the record at the start of `buf`, checksum included.
pub(crate) fn parse(buf: &[u8]) -> Parsed<'_> {
    match check_header(buf) {
        HeaderCheck::Plausible { header, crc } => {
            let end = header.record_len();
            if crc32c::crc32c(&buf[12..end]) != crc {
                return Parsed::Invalid;
            }
            Parsed::Record {
                header,
                payload: &buf[HEADER_LEN..end],
            }
        }
        HeaderCheck::Incomplete => Parsed::Incomplete,
        HeaderCheck::Invalid => Parsed::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sending::disk::scan::{Chain, Entry, Records};

    fn header(seq: u64, payload: &[u8]) -> RecordHeader {
        RecordHeader {
            seq,
            appended_ms: 1_700_000_000_000 + seq,
            items: 2,
            signal: Signal::Logs,
            payload_len: payload.len() as u32,
        }
    }

    fn three_records() -> Vec<u8> {
        let mut buf = Vec::new();
        for seq in 1..=3 {
            let payload = vec![seq as u8; 10 * seq as usize];
            encode_record(&mut buf, &header(seq, &payload), &payload);
        }
        buf
    }

    fn seqs_and_corruption(buf: &[u8]) -> (Vec<u64>, Vec<(usize, usize)>) {
        let mut seqs = Vec::new();
        let mut corrupt = Vec::new();
        let mut chain = Chain::new(Some(0));
        for entry in Records::new(buf, &mut chain, true) {
            match entry {
                Entry::Record { header, .. } => seqs.push(header.seq),
                Entry::Corrupt { offset, len } => corrupt.push((offset, len)),
            }
        }
        (seqs, corrupt)
    }

    #[test]
    fn round_trips_header_and_payload() {
        let payload = b"hello".to_vec();
        let mut buf = Vec::new();
        encode_record(&mut buf, &header(7, &payload), &payload);
        assert_eq!(buf.len(), HEADER_LEN + 5);
        match parse(&buf) {
            Parsed::Record {
                header: h,
                payload: p,
            } => {
                assert_eq!(h, header(7, &payload));
                assert_eq!(p, b"hello");
            }
            other => panic!("expected a record, got {other:?}"),
        }
        assert_eq!(parse(&buf[..buf.len() - 1]), Parsed::Incomplete);
    }

    #[test]
    fn a_flipped_payload_byte_costs_exactly_that_record() {
        let mut buf = three_records();
        let second = HEADER_LEN + 10;
        buf[second + HEADER_LEN + 3] ^= 0xff;
        let (seqs, corrupt) = seqs_and_corruption(&buf);
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(corrupt, vec![(second, HEADER_LEN + 20)]);
    }

    #[test]
    fn a_damaged_length_is_resynchronised_on_the_next_magic() {
        let mut buf = three_records();
        let second = HEADER_LEN + 10;
        buf[second + 4..second + 8].copy_from_slice(&5_000u32.to_le_bytes());
        let (seqs, corrupt) = seqs_and_corruption(&buf);
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(corrupt.len(), 1);
    }

    #[test]
    fn a_torn_tail_is_one_corrupt_entry() {
        let buf = three_records();
        let cut = buf.len() - 7;
        let (seqs, corrupt) = seqs_and_corruption(&buf[..cut]);
        assert_eq!(seqs, vec![1, 2]);
        let third = 2 * HEADER_LEN + 30;
        assert_eq!(corrupt, vec![(third, cut - third)]);
    }
}
