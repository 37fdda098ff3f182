//! Walking the records of a segment, at recovery and when the reader replays it.
//!
//! Two dangers shape the walk:
//! - **Smuggled records.** A payload is bytes a client chose, so it may hold a valid-looking
//!   record. When the record around it is damaged, a naive resynchronisation on the next
//!   magic finds the inner one. A [`Chain`] therefore admits a record only where its
//!   sequence number fits: right after an accepted record it must be exactly the next
//!   number; after damage it must lie between the next number and that number plus the
//!   most records the damaged bytes could have held. A damaged record whose length field
//!   still points at an admissible record is skipped whole, so its payload is never
//!   searched at all.
//! - **Quadratic scans.** Checking a candidate's checksum costs its length, and a damaged
//!   stretch can hold a candidate every few bytes. Candidates found while resynchronising
//!   are checked in O(1) amortised through a table of checkpointed CRCs ([`CrcIndex`]),
//!   so a walk costs O(bytes) whatever the content.

use super::record::{
    check_header, parse, HeaderCheck, Parsed, RecordHeader, HEADER_LEN, MAX_PAYLOAD_LEN,
    RECORD_MAGIC,
};

/// Sequence numbers at or above this are never written (the writer refuses to start
/// rather than reach it) and never accepted, so `seq + 1` cannot wrap.
pub(crate) const SEQ_LIMIT: u64 = 1 << 63;

/// What recovery knows about the sequence numbers seen so far, carried from segment to
/// segment in queue order.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// The highest sequence number accepted.
    last: Option<u64>,
    /// The cursor: every record up to it is confirmed. `None` when the cursor file is
    /// unreadable; then the first record found anchors the chain.
    floor: Option<u64>,
    /// Bytes of damage since the last accepted record.
    damaged: u64,
}

/// Where a record candidate sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The first record of a segment: only ordering applies (older segments may have
    /// been deleted in between).
    SegmentStart,
    /// Right after an accepted record: the writer numbers records consecutively.
    AfterRecord,
    /// Found by searching after damage.
    Resync,
}

impl Chain {
    pub fn new(floor: Option<u64>) -> Chain {
        Chain {
            last: None,
            floor,
            damaged: 0,
        }
    }

    fn admits(&self, seq: u64, at: At, damaged: u64) -> bool {
        if seq >= SEQ_LIMIT || self.last.is_some_and(|last| seq <= last) {
            return false;
        }
        let next = match (self.last, self.floor) {
            (Some(last), floor) => (last + 1).max(floor.map_or(0, |f| f.saturating_add(1))),
            (None, Some(floor)) => floor.saturating_add(1),
            (None, None) => return true,
        };
        match at {
            At::SegmentStart => true,
            At::AfterRecord => self.last.is_none_or(|last| seq == last + 1),
            // Every lost record took at least a header's worth of the damaged bytes.
            At::Resync => seq <= next.saturating_add(damaged / HEADER_LEN as u64),
        }
    }
}

/// One step through a byte range of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    Record {
        offset: usize,
        header: RecordHeader,
        payload: &'a [u8],
    },
    /// Bytes that are not an admissible record: a damaged record, a torn tail, or a
    /// record out of sequence. One stretch between two accepted records is one entry.
    Corrupt { offset: usize, len: usize },
}

/// Walks the records of a byte range of a segment, advancing `chain`.
pub(crate) struct Records<'a, 'c> {
    buf: &'a [u8],
    pos: usize,
    at: At,
    chain: &'c mut Chain,
    crcs: Option<CrcIndex>,
}

impl<'a, 'c> Records<'a, 'c> {
    /// `segment_start`: `buf` begins right after the segment header (rather than after a
    /// record already walked).
    pub fn new(buf: &'a [u8], chain: &'c mut Chain, segment_start: bool) -> Self {
        Records {
            buf,
            pos: 0,
            at: if segment_start {
                At::SegmentStart
            } else {
                At::AfterRecord
            },
            chain,
            crcs: None,
        }
    }

    /// Bytes of `buf` walked so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The record at `at`, if it is valid and admissible with `damaged` bytes of damage
    /// before it. Checksums of candidates found by searching go through the CRC index.
    fn admissible(&mut self, offset: usize, at: At, damaged: u64) -> Option<RecordHeader> {
        let HeaderCheck::Plausible { header, crc } = check_header(&self.buf[offset..]) else {
            return None;
        };
        if !self.chain.admits(header.seq, at, damaged) {
            return None;
        }
        let buf = self.buf;
        let index = self.crcs.get_or_insert_with(|| CrcIndex::new(buf));
        let end = offset + header.record_len();
        (index.crc_of(buf, offset + 12, end) == crc).then_some(header)
    }

    /// The offset of the next admissible record after damage at `offset`, or the end.
    fn resync(&mut self, offset: usize) -> usize {
        let base = self.chain.damaged;
        let rest = &self.buf[offset..];
        // The damaged record's own length first: a damaged payload costs that record
        // only, and nothing inside it is taken for a record.
        if let Some(end) = header_len_hint(rest).map(|len| offset + HEADER_LEN + len) {
            let gap = (end - offset) as u64;
            if end < self.buf.len() && self.admissible(end, At::Resync, base + gap).is_some() {
                return end;
            }
        }
        let mut from = offset + 1;
        while let Some(found) = find_magic(&self.buf[from..]) {
            let candidate = from + found;
            let gap = (candidate - offset) as u64;
            if self.admissible(candidate, At::Resync, base + gap).is_some() {
                return candidate;
            }
            from = candidate + 1;
        }
        self.buf.len()
    }
}

/// The payload length a damaged header claims, when its magic is intact and the length
/// is possible.
fn header_len_hint(rest: &[u8]) -> Option<usize> {
    if rest.len() < 8 || rest[..4] != RECORD_MAGIC {
        return None;
    }
    let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
    (len <= MAX_PAYLOAD_LEN).then_some(len)
}

fn find_magic(buf: &[u8]) -> Option<usize> {
    buf.windows(RECORD_MAGIC.len())
        .position(|w| w == RECORD_MAGIC)
}

impl<'a> Iterator for Records<'a, '_> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let offset = self.pos;
        if offset >= self.buf.len() {
            return None;
        }
        let found = match self.at {
            // Aligned records are checked directly: they tile the buffer, so the
            // checksums cost O(bytes) in total.
            At::SegmentStart | At::AfterRecord => match parse(&self.buf[offset..]) {
                Parsed::Record { header, .. }
                    if self.chain.admits(header.seq, self.at, self.chain.damaged) =>
                {
                    Some(header)
                }
                _ => None,
            },
            At::Resync => self.admissible(offset, At::Resync, self.chain.damaged),
        };
        if let Some(header) = found {
            let end = offset + header.record_len();
            self.pos = end;
            self.at = At::AfterRecord;
            self.chain.last = Some(header.seq);
            self.chain.damaged = 0;
            return Some(Entry::Record {
                offset,
                header,
                payload: &self.buf[offset + HEADER_LEN..end],
            });
        }
        let next = self.resync(offset);
        self.chain.damaged += (next - offset) as u64;
        self.pos = next;
        self.at = At::Resync;
        Some(Entry::Corrupt {
            offset,
            len: next - offset,
        })
    }
}

/// CRC32C of any range of a buffer in O(1) amortised: the CRC of every prefix ending on a
/// multiple of [`CHECKPOINT`], combined with the short tails and a "shift by n zero
/// bytes" operator (CRC is linear: crc(A‖B) = shift(crc(A), |B|) ⊕ crc(B)).
struct CrcIndex {
    checkpoints: Vec<u32>,
}

const CHECKPOINT: usize = 64;
/// CRC32C (Castagnoli), reflected.
const POLY: u32 = 0x82F6_3B78;

impl CrcIndex {
    fn new(buf: &[u8]) -> CrcIndex {
        let mut checkpoints = Vec::with_capacity(buf.len() / CHECKPOINT + 1);
        let mut crc = 0;
        checkpoints.push(crc);
        for chunk in buf.chunks_exact(CHECKPOINT) {
            crc = crc32c::crc32c_append(crc, chunk);
            checkpoints.push(crc);
        }
        CrcIndex { checkpoints }
    }

    /// CRC of `buf[..at]`.
    fn prefix(&self, buf: &[u8], at: usize) -> u32 {
        let block = at / CHECKPOINT;
        crc32c::crc32c_append(self.checkpoints[block], &buf[block * CHECKPOINT..at])
    }

    /// CRC of `buf[from..to]`.
    fn crc_of(&self, buf: &[u8], from: usize, to: usize) -> u32 {
        self.prefix(buf, to) ^ shift(self.prefix(buf, from), to - from)
    }
}

/// a·b modulo the CRC polynomial (bit-reflected, x⁰ is the top bit).
fn mult_mod_poly(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut product = 0;
    while m != 0 {
        if a & m != 0 {
            product ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    product
}

/// x^(2^k) modulo the polynomial, for k in 0..64.
fn x_pow_2k() -> &'static [u32; 64] {
    static TABLE: std::sync::OnceLock<[u32; 64]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0; 64];
        let mut p = 1u32 << 30; // x¹
        for entry in &mut table {
            *entry = p;
            p = mult_mod_poly(p, p);
        }
        table
    })
}

/// The CRC of `A` followed by `bytes` zero bytes, less the CRC of those zeros: `crc`
/// times x^(8·bytes).
fn shift(crc: u32, bytes: usize) -> u32 {
    let table = x_pow_2k();
    let mut factor = 1u32 << 31; // x⁰
    let mut n = bytes as u64;
    let mut k = 3; // 8 = 2³ bits per byte
    while n != 0 {
        if n & 1 != 0 {
            factor = mult_mod_poly(table[k & 63], factor);
        }
        n >>= 1;
        k += 1;
    }
    mult_mod_poly(factor, crc)
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
