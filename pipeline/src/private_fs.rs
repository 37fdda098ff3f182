//! Files and directories that hold telemetry or state (queues, spools, dead letters,
//! silences, exporter output) are private to the agent's user: directories 0700, files 0600.
//! Telemetry carries prompts, commands and credentials that other local users must not read.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode for directories the agent creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode for files the agent creates.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// `create_dir_all` whose newly created directories are 0700 (existing ones are left alone).
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)
}

/// Open options whose newly created file is 0600; the caller sets read/write/append/create.
pub fn private_open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(PRIVATE_FILE_MODE);
    options
}

/// Creates (or truncates) a 0600 file for writing.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    private_open_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// True when users other than the owner may write into `path` (group or other write bit).
pub fn writable_by_others(path: &Path) -> io::Result<bool> {
    let mode = std::fs::metadata(path)?.permissions().mode();
    Ok(mode & 0o022 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_files_and_directories_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir_all(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let file = dir.join("f");
        create_private_file(&file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!writable_by_others(&dir).unwrap());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(writable_by_others(&dir).unwrap());
    }
}
