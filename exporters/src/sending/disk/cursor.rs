//! The cursor file: the highest sequence number below which every record is confirmed
//! (delivered, dead-lettered or dropped by policy). Written atomically: temp file, fsync,
//! rename, fsync of the directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

pub(crate) const CURSOR_FILE: &str = "cursor";
const CURSOR_TEMP_FILE: &str = "cursor.tmp";

/// What the cursor file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredCursor {
    /// No cursor file: nothing was ever confirmed.
    Missing,
    Confirmed(u64),
    /// The file exists but cannot be read as a cursor; everything is replayed.
    Unreadable,
}

impl StoredCursor {
    pub fn confirmed_through(self) -> u64 {
        match self {
            StoredCursor::Confirmed(seq) => seq,
            StoredCursor::Missing | StoredCursor::Unreadable => 0,
        }
    }
}

/// Reads the cursor file of a queue directory.
pub(crate) fn read_cursor(dir: &Path) -> io::Result<StoredCursor> {
    match fs::read_to_string(dir.join(CURSOR_FILE)) {
        Ok(text) => Ok(text
            .trim()
            .parse()
            .map_or(StoredCursor::Unreadable, StoredCursor::Confirmed)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(StoredCursor::Missing),
        Err(e) => Err(e),
    }
}

/// Replaces the cursor file atomically. `sync` makes it durable before returning.
pub(crate) fn write_cursor(dir: &Path, confirmed_through: u64, sync: bool) -> io::Result<()> {
    let temp = dir.join(CURSOR_TEMP_FILE);
    let mut file = sentinel_pipeline::private_fs::create_private_file(&temp)?;
    file.write_all(format!("{confirmed_through}\n").as_bytes())?;
    if sync {
        file.sync_all()?;
    }
    drop(file);
    fs::rename(&temp, dir.join(CURSOR_FILE))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_cursor(dir.path()).unwrap(), StoredCursor::Missing);
        write_cursor(dir.path(), 41, true).unwrap();
        write_cursor(dir.path(), 42, true).unwrap();
        assert_eq!(
            read_cursor(dir.path()).unwrap(),
            StoredCursor::Confirmed(42)
        );
        assert!(!dir.path().join(CURSOR_TEMP_FILE).exists());
    }

    #[test]
    fn garbage_means_replay_everything() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CURSOR_FILE), "not a number").unwrap();
        let cursor = read_cursor(dir.path()).unwrap();
        assert_eq!(cursor, StoredCursor::Unreadable);
        assert_eq!(cursor.confirmed_through(), 0);
    }
}
