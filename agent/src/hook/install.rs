//! `sentinel hook install` / `uninstall`: merge our hook entries into Claude Code's
//! `settings.json` for every event, and take out exactly those entries again. Other hooks
//! and settings are left as they are; the first change keeps a backup.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// Every Claude Code hook event (32 as of the hooks documentation of 2026-08).
pub const EVENTS: [&str; 32] = [
    "SessionStart",
    "Setup",
    "SessionEnd",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "Stop",
    "StopFailure",
    "PreToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "SubagentStart",
    "SubagentStop",
    "TaskCreated",
    "TaskCompleted",
    "TeammateIdle",
    "Notification",
    "MessageDisplay",
    "InstructionsLoaded",
    "ConfigChange",
    "CwdChanged",
    "DirectoryAdded",
    "FileChanged",
    "WorktreeCreate",
    "WorktreeRemove",
    "PreCompact",
    "PostCompact",
    "PreModelSwitch",
    "PostModelSwitch",
    "Elicitation",
];

/// Events whose matcher selects tools; ours matches every tool.
const TOOL_EVENTS: [&str; 5] = [
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "PermissionDenied",
];

/// How Claude Code reaches Sentinel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Runs `sentinel hook` (policy decisions work even when the agent is down).
    Command,
    /// Posts to the agent's hooks receiver.
    Http,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a JSON object: refusing to rewrite it")]
    NotAnObject { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HOME is not set; use --project DIR")]
    NoHome,
}

/// `~/.claude/settings.json`, or `DIR/.claude/settings.json` for a project.
pub fn settings_path(project: Option<&Path>) -> Result<PathBuf, InstallError> {
    let base = match project {
        Some(dir) => dir.to_path_buf(),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(InstallError::NoHome)?,
    };
    Ok(base.join(".claude").join("settings.json"))
}

/// The handler we add: identified later by exactly this value.
pub fn handler(mode: Mode, executable: &Path, endpoint: &str) -> Value {
    match mode {
        Mode::Command => json!({
            "type": "command",
            "command": format!("'{}' hook", executable.display()),
        }),
        Mode::Http => json!({"type": "http", "url": endpoint}),
    }
}

/// Adds `handler` to every event. Returns how many events changed (0 when already there).
pub fn install(path: &Path, handler: &Value) -> Result<usize, InstallError> {
    let mut settings = read(path)?;
    let hooks = settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(hooks) = hooks.as_object_mut() else {
        return Err(InstallError::NotAnObject {
            path: path.to_path_buf(),
        });
    };
    let mut changed = 0;
    for event in EVENTS {
        let groups = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        if groups.iter().any(|g| contains_handler(g, handler)) {
            continue;
        }
        let mut group = json!({"hooks": [handler]});
        if TOOL_EVENTS.contains(&event) {
            group["matcher"] = json!("*");
        }
        groups.push(group);
        changed += 1;
    }
    if changed > 0 {
        write(path, settings)?;
    }
    Ok(changed)
}

/// Removes every occurrence of `handlers` and the groups and events left empty by that.
/// Returns how many handlers were removed.
pub fn uninstall(path: &Path, handlers: &[Value]) -> Result<usize, InstallError> {
    if !path.exists() {
        return Ok(0);
    }
    let mut settings = read(path)?;
    let mut removed = 0;
    if let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) {
        for groups in hooks.values_mut() {
            let Some(groups) = groups.as_array_mut() else {
                continue;
            };
            for group in groups.iter_mut() {
                if let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                    let before = list.len();
                    list.retain(|h| !handlers.contains(h));
                    removed += before - list.len();
                }
            }
            groups.retain(|g| {
                g.get("hooks")
                    .and_then(Value::as_array)
                    .is_none_or(|l| !l.is_empty())
            });
        }
        hooks.retain(|_, groups| groups.as_array().is_none_or(|g| !g.is_empty()));
        if hooks.is_empty() {
            settings.remove("hooks");
        }
    }
    if removed > 0 {
        write(path, settings)?;
    }
    Ok(removed)
}

fn contains_handler(group: &Value, handler: &Value) -> bool {
    group
        .get("hooks")
        .and_then(Value::as_array)
        .is_some_and(|list| list.contains(handler))
}

fn read(path: &Path) -> Result<Map<String, Value>, InstallError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(InstallError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(InstallError::NotAnObject {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes atomically; the first time, the previous file is kept as a backup.
fn write(path: &Path, settings: Map<String, Value>) -> Result<(), InstallError> {
    let err = |source| InstallError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let backup = path.with_extension("json.sentinel-backup");
    if path.exists() && !backup.exists() {
        std::fs::copy(path, &backup).map_err(err)?;
    }
    let mut text =
        serde_json::to_string_pretty(&Value::Object(settings)).expect("a JSON map serialises");
    text.push('\n');
    let temp = path.with_extension("json.sentinel-tmp");
    std::fs::write(&temp, text).map_err(err)?;
    std::fs::rename(&temp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Value {
        handler(Mode::Command, Path::new("/usr/bin/sentinel"), "")
    }

    #[test]
    fn install_merges_and_is_idempotent_and_uninstall_restores() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(Some(dir.path())).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original = json!({
            "model": "opus",
            "hooks": {"PreToolUse": [{"matcher": "Bash",
                "hooks": [{"type": "command", "command": "my-check"}]}]}
        });
        std::fs::write(&path, original.to_string()).unwrap();

        assert_eq!(install(&path, &ours()).unwrap(), EVENTS.len());
        assert_eq!(
            install(&path, &ours()).unwrap(),
            0,
            "second install adds nothing"
        );
        let installed: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(installed["model"], "opus");
        let pre = installed["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 2, "the user's hook is kept beside ours");
        assert_eq!(pre[0]["hooks"][0]["command"], "my-check");
        assert_eq!(pre[1]["matcher"], "*");
        assert!(installed["hooks"]["Stop"][0].get("matcher").is_none());
        let backup = path.with_extension("json.sentinel-backup");
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(backup).unwrap()).unwrap();
        assert_eq!(saved, original);

        assert_eq!(uninstall(&path, &[ours()]).unwrap(), EVENTS.len());
        let restored: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(restored, original);
    }

    #[test]
    fn a_settings_file_that_is_not_an_object_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "[1, 2]").unwrap();
        assert!(matches!(
            install(&path, &ours()),
            Err(InstallError::NotAnObject { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1, 2]");
    }
}
