//! The spool: events that `sentinel hook` could not hand to the agent, one JSON object
//! per line. The `hooks` receiver ingests it when it runs, so no event is lost while the
//! agent is down.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// `$XDG_STATE_HOME/sentinel/hook-spool.jsonl`, else
/// `$HOME/.local/state/sentinel/hook-spool.jsonl`. The receiver's `spool_path` default.
pub fn default_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("sentinel").join("hook-spool.jsonl"))
}

/// Appends one event as one line. A single `write` on an `O_APPEND` file, so concurrent
/// hook processes never interleave their lines.
pub fn append(path: &Path, event: &Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/spool.jsonl");
        append(&path, &serde_json::json!({"a": 1})).unwrap();
        append(&path, &serde_json::json!({"b": "x\ny"})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": "x\ny"})
            ]
        );
    }
}
