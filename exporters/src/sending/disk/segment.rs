//! Segment files: naming, creation and scanning.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::cursor::sync_dir;
use super::record::SEGMENT_MAGIC;
use super::scan::{Chain, Entry, Records};

const SEGMENT_SUFFIX: &str = ".seg";

/// `00000000000000000042.seg`: zero-padded so names sort like indexes.
pub(crate) fn segment_name(index: u64) -> String {
    format!("{index:020}{SEGMENT_SUFFIX}")
}

fn segment_index(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment files of a queue directory, oldest first.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(index) = name.to_str().and_then(segment_index) {
            if entry.file_type()?.is_file() {
                segments.push((index, entry.path()));
            }
        }
    }
    segments.sort_unstable_by_key(|(index, _)| *index);
    Ok(segments)
}

/// Creates a new, empty segment (header only), opened for appending.
pub(crate) fn create_segment(dir: &Path, index: u64, sync: bool) -> io::Result<(File, PathBuf)> {
    let path = dir.join(segment_name(index));
    let mut file = sentinel_pipeline::private_fs::private_open_options()
        .append(true)
        .create_new(true)
        .open(&path)?;
    file.write_all(&SEGMENT_MAGIC)?;
    if sync {
        file.sync_all()?;
        sync_dir(dir)?;
    }
    Ok((file, path))
}

/// Where records start in a segment file, given its first bytes. A file whose header is
/// missing or damaged is read from offset 0, so the damage shows up as corruption.
pub(crate) fn records_start(head: &[u8]) -> usize {
    if head.starts_with(&SEGMENT_MAGIC) {
        SEGMENT_MAGIC.len()
    } else {
        0
    }
}

/// Reads `len` bytes at `offset` (fewer if the file is shorter).
pub(crate) fn read_range(file: &mut File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Visits every record and every damaged stretch of a segment file, with offsets relative
/// to the file, advancing `chain` (see [`super::scan`]). Returns the file length. A file
/// shorter than its header is one corrupt entry if it has any bytes.
pub(crate) fn scan_segment(
    path: &Path,
    chain: &mut Chain,
    visit: impl FnMut(Entry<'_>),
) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    scan_bytes(&bytes, chain, visit);
    Ok(bytes.len() as u64)
}

/// [`scan_segment`] on the bytes of a segment file.
pub(crate) fn scan_bytes(bytes: &[u8], chain: &mut Chain, mut visit: impl FnMut(Entry<'_>)) {
    let start = if bytes.len() < SEGMENT_MAGIC.len() && SEGMENT_MAGIC.starts_with(bytes) {
        // A header cut short by a crash right after creation: nothing was ever in it.
        bytes.len()
    } else {
        records_start(bytes)
    };
    for entry in Records::new(&bytes[start..], chain, true) {
        visit(match entry {
            Entry::Record {
                offset,
                header,
                payload,
            } => Entry::Record {
                offset: offset + start,
                header,
                payload,
            },
            Entry::Corrupt { offset, len } => Entry::Corrupt {
                offset: offset + start,
                len,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sending::disk::record::{encode_record, RecordHeader};
    use sentinel_pipeline::Signal;

    #[test]
    fn names_sort_like_indexes_and_other_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for index in [10, 2, 1] {
            create_segment(dir.path(), index, false).unwrap();
        }
        fs::write(dir.path().join("cursor"), "1").unwrap();
        fs::write(dir.path().join("x.seg"), "").unwrap();
        let indexes: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(indexes, vec![1, 2, 10]);
        assert!(
            create_segment(dir.path(), 2, false).is_err(),
            "never reuses a file"
        );
    }

    #[test]
    fn scan_reports_file_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, path) = create_segment(dir.path(), 1, false).unwrap();
        let mut buf = Vec::new();
        let header = RecordHeader {
            seq: 9,
            appended_ms: 1,
            items: 1,
            signal: Signal::Traces,
            payload_len: 3,
        };
        encode_record(&mut buf, &header, b"abc");
        file.write_all(&buf).unwrap();
        let mut seen = Vec::new();
        let len = scan_segment(&path, &mut Chain::new(Some(0)), |entry| {
            if let Entry::Record { offset, header, .. } = entry {
                seen.push((offset, header.seq));
            }
        })
        .unwrap();
        assert_eq!(seen, vec![(SEGMENT_MAGIC.len(), 9)]);
        assert_eq!(len as usize, SEGMENT_MAGIC.len() + buf.len());
    }
}
