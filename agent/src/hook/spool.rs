//! The spool: events that `sentinel hook` could not hand to the agent, one JSON object
//! per line. The `hooks` receiver ingests it when it runs, so no event is lost while the
//! agent is down. Events are redacted before they are written (the same redactor as the
//! receiver's), and the spool directory and file are private to the user (0700/0600).

use std::io::Write;
use std::path::{Path, PathBuf};

use sentinel_pipeline::private_fs;
use serde_json::Value;

use crate::receivers::hooks::Redactor;

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

/// Appends one event as one line, redacted. A single `write` on an `O_APPEND` file, so
/// concurrent hook processes never interleave their lines.
pub fn append(path: &Path, event: &Value) -> std::io::Result<()> {
    let mut event = event.clone();
    // Built-in shapes only: they compile lazily, so this costs little when nothing matches.
    let redactor = Redactor::new(&[]).map_err(std::io::Error::other)?;
    redactor.redact_event(&mut event);
    if let Some(dir) = path.parent() {
        private_fs::create_private_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(&event)?;
    line.push(b'\n');
    let mut file = private_fs::private_open_options()
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

    #[test]
    fn spooled_events_are_redacted_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/sentinel/spool.jsonl");
        let event = serde_json::json!({
            "tool_name": "Bash",
            "tool_input": {"command": "cat .env"},
            "tool_response": {"stdout": "DB_PASSWORD='pw-in-env'"},
            "prompt": "use sk-ant-api03-abcdefghijklmnopqrstuvwx please",
        });
        append(&path, &event).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("pw-in-env"), "{text}");
        assert!(!text.contains("abcdefghijklmnopqrstuvwx"), "{text}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
    }
}
