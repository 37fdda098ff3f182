//! The queue's identity: a random 128-bit id created with the directory and kept in
//! `queue.id`. Sequence numbers are unique only within one directory's life; a wiped
//! directory starts again at 1, so sinks that deduplicate by `(queue id, seq)` must see a
//! new id for it.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::cursor::sync_dir;

pub(crate) const ID_FILE: &str = "queue.id";
const ID_TEMP_FILE: &str = "queue.id.tmp";

/// Reads the directory's id, creating it (durably) when missing. An unreadable id file
/// is replaced, with a warning: replayed records then count as new to deduplicating sinks.
pub(crate) fn load_or_create(dir: &Path) -> io::Result<u128> {
    match fs::read_to_string(dir.join(ID_FILE)) {
        Ok(text) => match u128::from_str_radix(text.trim(), 16) {
            Ok(id) => return Ok(id),
            Err(_) => tracing::warn!(
                dir = %dir.display(),
                "The disk queue id file is damaged; the queue gets a new id, so records replayed from it may be delivered twice."
            ),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let id: u128 = rand::random();
    let temp = dir.join(ID_TEMP_FILE);
    let mut file = sentinel_pipeline::private_fs::create_private_file(&temp)?;
    file.write_all(format!("{id:032x}\n").as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, dir.join(ID_FILE))?;
    sync_dir(dir)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_stable_and_new_after_a_wipe() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
        fs::remove_file(dir.path().join(ID_FILE)).unwrap();
        assert_ne!(load_or_create(dir.path()).unwrap(), first);
    }

    #[test]
    fn a_damaged_id_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ID_FILE), "not hex").unwrap();
        let id = load_or_create(dir.path()).unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap(), id);
    }
}
