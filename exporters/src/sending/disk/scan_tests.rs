use super::*;
use crate::sending::disk::record::encode_record;
use sentinel_pipeline::Signal;

fn header(seq: u64, payload: &[u8]) -> RecordHeader {
    RecordHeader {
        seq,
        appended_ms: 1_700_000_000_000,
        items: 1,
        signal: Signal::Logs,
        payload_len: payload.len() as u32,
    }
}

fn record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_record(&mut buf, &header(seq, payload), payload);
    buf
}

/// Accepted sequence numbers and corrupt stretches, walking `buf` from a segment start.
fn walk(buf: &[u8], floor: Option<u64>) -> (Vec<u64>, Vec<(usize, usize)>) {
    let mut chain = Chain::new(floor);
    let mut seqs = Vec::new();
    let mut corrupt = Vec::new();
    for entry in Records::new(buf, &mut chain, true) {
        match entry {
            Entry::Record { header, .. } => seqs.push(header.seq),
            Entry::Corrupt { offset, len } => corrupt.push((offset, len)),
        }
    }
    (seqs, corrupt)
}

/// An outer record (seq 2) whose payload holds `inner` surrounded by filler, between
/// records 1 and 3. Returns the segment bytes and the outer record's offset.
fn smuggling(inner: &[u8]) -> (Vec<u8>, usize) {
    let mut buf = record(1, b"first");
    let outer_at = buf.len();
    let mut payload = vec![b'x'; 100];
    payload.extend_from_slice(inner);
    payload.extend_from_slice(&[b'y'; 50]);
    buf.extend(record(2, &payload));
    buf.extend(record(3, b"third"));
    (buf, outer_at)
}

#[test]
fn range_checksums_match_direct_ones() {
    let data: Vec<u8> = (0..5_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let index = CrcIndex::new(&data);
    for (from, to) in [
        (0, 0),
        (0, 1),
        (3, 64),
        (12, 200),
        (63, 65),
        (100, 5_000),
        (4_999, 5_000),
    ] {
        assert_eq!(
            index.crc_of(&data, from, to),
            crc32c::crc32c(&data[from..to]),
            "{from}..{to}"
        );
    }
    let (a, b) = data.split_at(1234);
    let combined = crc32c::crc32c_combine(crc32c::crc32c(a), crc32c::crc32c(b), b.len());
    assert_eq!(
        shift(crc32c::crc32c(a), b.len()) ^ crc32c::crc32c(b),
        combined
    );
}

#[test]
fn a_clean_segment_yields_every_record() {
    let mut buf = Vec::new();
    for seq in 5..=9 {
        buf.extend(record(seq, &vec![seq as u8; seq as usize * 3]));
    }
    assert_eq!(walk(&buf, Some(4)), (vec![5, 6, 7, 8, 9], vec![]));
}

#[test]
fn a_record_smuggled_in_a_damaged_payload_is_not_resurrected() {
    for inner_seq in [u64::MAX - 1, 3, 2] {
        let (mut buf, outer) = smuggling(&record(inner_seq, b"smuggled"));
        buf[outer + HEADER_LEN + 10] ^= 0xff; // damage the outer payload
        let (seqs, corrupt) = walk(&buf, Some(0));
        assert_eq!(seqs, vec![1, 3], "inner seq {inner_seq}");
        assert_eq!(corrupt.len(), 1);
    }
}

#[test]
fn with_a_damaged_length_a_smuggled_record_outside_the_window_is_refused() {
    for inner_seq in [u64::MAX - 1, SEQ_LIMIT, 1_000] {
        let (mut buf, outer) = smuggling(&record(inner_seq, b"smuggled"));
        buf[outer + 4..outer + 8].copy_from_slice(&9_999_999u32.to_le_bytes());
        let (seqs, _) = walk(&buf, Some(0));
        assert_eq!(seqs, vec![1, 3], "inner seq {inner_seq}");
    }
}

#[test]
fn numbers_must_increase() {
    let mut buf = record(1, b"a");
    buf.extend(record(2, b"b"));
    buf.extend(record(2, b"again"));
    buf.extend(record(1, b"older"));
    buf.extend(record(3, b"c"));
    let (seqs, corrupt) = walk(&buf, Some(0));
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(
        corrupt.len(),
        1,
        "the two out-of-order records are one stretch"
    );
}

#[test]
fn contiguous_records_must_be_consecutive() {
    let mut buf = record(1, b"a");
    buf.extend(record(5, b"jump"));
    let (seqs, corrupt) = walk(&buf, Some(0));
    assert_eq!(seqs, vec![1]);
    assert_eq!(corrupt.len(), 1);
}

#[test]
fn after_damage_the_window_grows_with_the_damaged_bytes() {
    // Records 2..=4 are lost to damage: 3 records' worth of bytes, so 5 is admissible.
    let mut buf = record(1, b"a");
    let lost_at = buf.len();
    for seq in 2..=4 {
        buf.extend(record(seq, b"lost"));
    }
    let lost_len = buf.len() - lost_at;
    buf.extend(record(5, b"e"));
    buf[lost_at..lost_at + lost_len].fill(0);
    assert_eq!(walk(&buf, Some(0)).0, vec![1, 5]);
}

#[test]
fn the_first_record_after_the_cursor_anchors_a_damaged_start() {
    let mut buf = vec![0u8; 40];
    buf.extend(record(11, b"k"));
    assert_eq!(walk(&buf, Some(10)).0, vec![11]);
    assert_eq!(
        walk(&buf, Some(2)).0,
        Vec::<u64>::new(),
        "11 is too far past 3"
    );
    assert_eq!(
        walk(&buf, None).0,
        vec![11],
        "no cursor: the first record anchors"
    );
}

#[test]
fn markers_with_bad_checksums_are_one_corrupt_stretch() {
    // Each marker claims a long payload whose checksum fails: checked naively, every
    // one costs the rest of the buffer.
    let mut marker = record(1, b"");
    marker[4..8].copy_from_slice(&(1u32 << 20).to_le_bytes());
    marker[8] ^= 0xff;
    let buf: Vec<u8> = marker.iter().copied().cycle().take(2 << 20).collect();
    let (seqs, corrupt) = walk(&buf, Some(0));
    assert!(seqs.is_empty());
    assert_eq!(corrupt, vec![(0, buf.len())]);
}
