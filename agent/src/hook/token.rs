//! The bearer token `sentinel hook` sends to the hooks receiver, so that another local
//! user cannot post events into this user's stream. It is read from
//! `SENTINEL_HOOK_TOKEN_FILE`, else `${XDG_CONFIG_HOME:-$HOME/.config}/sentinel/hook-token`,
//! and used only when the file is the user's own and nobody else can read it (mode 0600
//! or 0400). `SENTINEL_HOOK_TOKEN_FILE=""` turns the token off.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Longest token file read; a bearer token is far shorter.
const MAX_TOKEN_BYTES: u64 = 4096;
/// The environment variable naming the token file.
pub const TOKEN_FILE_ENV: &str = "SENTINEL_HOOK_TOKEN_FILE";

/// Why a token file was not used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the hook token file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the hook token file {path} has mode {mode:04o}; it must be 0600 or 0400 (chmod 600 {path})"
    )]
    Mode { path: String, mode: u32 },
    #[error("the hook token file {path} belongs to uid {owner}, not to this user ({uid})")]
    Owner { path: String, owner: u32, uid: u32 },
    #[error("the hook token file {path} is empty")]
    Empty { path: String },
}

/// Where the token is read from: `None` when turned off or no home is known. The second
/// value says whether the path was named explicitly (then a missing file is an error).
pub fn token_path() -> Option<(PathBuf, bool)> {
    if let Some(named) = std::env::var_os(TOKEN_FILE_ENV) {
        return (!named.is_empty()).then(|| (PathBuf::from(named), true));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some((config.join("sentinel").join("hook-token"), false))
}

/// The token to send: `Ok(None)` when there is none (turned off, or the default file does
/// not exist); `Err` when a token file exists but must not be used.
pub fn load() -> Result<Option<String>, TokenError> {
    let Some((path, named)) = token_path() else {
        return Ok(None);
    };
    match read_private(&path) {
        Err(TokenError::Read { source, .. })
            if !named && source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// Reads a token file that only its owner, this user, can read.
pub fn read_private(path: &Path) -> Result<String, TokenError> {
    let shown = path.display().to_string();
    let read_error = |source| TokenError::Read {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    let mode = meta.mode() & 0o777;
    if mode != 0o600 && mode != 0o400 {
        return Err(TokenError::Mode { path: shown, mode });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Err(TokenError::Owner {
            path: shown,
            owner: meta.uid(),
            uid,
        });
    }
    let mut text = String::new();
    file.take(MAX_TOKEN_BYTES)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::Empty { path: shown });
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("token");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_file_gives_its_trimmed_token() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o400] {
            let path = write(dir.path(), "tok-123\n", mode);
            assert_eq!(read_private(&path).unwrap(), "tok-123");
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn readable_by_others_or_empty_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o660, 0o604] {
            let path = write(dir.path(), "tok", mode);
            assert!(
                matches!(read_private(&path), Err(TokenError::Mode { .. })),
                "{mode:o}"
            );
            std::fs::remove_file(&path).unwrap();
        }
        let path = write(dir.path(), " \n", 0o600);
        assert!(matches!(read_private(&path), Err(TokenError::Empty { .. })));
    }
}
