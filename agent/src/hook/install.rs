//! `sentinel hook install` / `uninstall`: merge our hook entries into Claude Code's
//! `settings.json` for every event, and take out exactly those entries again. Other hooks
//! and settings are left as they are, keys in their order; the first change keeps a
//! backup. Installing one mode over the other replaces it.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::ordered::Json;

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
    #[error("project directory {path} does not exist")]
    NoProject { path: PathBuf },
}

/// `~/.claude/settings.json`, or `DIR/.claude/settings.json` for a project (which must
/// exist: a typo must not create a stray `.claude` directory).
pub fn settings_path(project: Option<&Path>) -> Result<PathBuf, InstallError> {
    let base = match project {
        Some(dir) if dir.is_dir() => dir.to_path_buf(),
        Some(dir) => {
            return Err(InstallError::NoProject {
                path: dir.to_path_buf(),
            })
        }
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(InstallError::NoHome)?,
    };
    Ok(base.join(".claude").join("settings.json"))
}

/// The small hook binary's file name (`agent/src/bin/sentinel-hook.rs`).
pub const HOOK_BINARY: &str = "sentinel-hook";

/// What a `command` hook runs, given the running `sentinel`: the small `sentinel-hook`
/// beside it when it is there (it starts in about half the time), else `sentinel` itself.
pub fn hook_executable(sentinel: &Path) -> PathBuf {
    let small = sentinel.with_file_name(HOOK_BINARY);
    if small.is_file() {
        small
    } else {
        sentinel.to_path_buf()
    }
}

/// The handler we add: identified later by exactly this value. `executable` is
/// `sentinel` (run as `sentinel hook`) or `sentinel-hook` (run as it is).
pub fn handler(mode: Mode, executable: &Path, endpoint: &str) -> Value {
    let command = if executable.file_name() == Some(HOOK_BINARY.as_ref()) {
        format!("'{}'", executable.display())
    } else {
        format!("'{}' hook", executable.display())
    };
    match mode {
        Mode::Command => json!({"type": "command", "command": command}),
        Mode::Http => json!({"type": "http", "url": endpoint}),
    }
}

/// Whether `handler` is one `install` adds, in either mode and from any copy of the
/// binaries: `'…/sentinel' hook`, `'…/sentinel-hook'`, or an http hook to a hooks
/// receiver's `/v1/hooks`.
pub fn is_sentinel_handler(handler: &Value) -> bool {
    let field = |key: &str| handler.get(key).and_then(Value::as_str);
    let is_ours = |command: &str| {
        let quoted = |c: &str| c.strip_prefix('\'')?.strip_suffix('\'').map(str::to_owned);
        let named = |exe: &str, name: &str| Path::new(exe).file_name() == Some(name.as_ref());
        match command.strip_suffix(" hook").and_then(quoted) {
            Some(exe) => named(&exe, "sentinel"),
            None => quoted(command).is_some_and(|exe| named(&exe, HOOK_BINARY)),
        }
    };
    match field("type") {
        Some("command") => field("command").is_some_and(is_ours),
        Some("http") => field("url").is_some_and(|u| u.ends_with(RECEIVER_PATH)),
        _ => false,
    }
}

/// The hooks receiver's default URL path.
const RECEIVER_PATH: &str = "/v1/hooks";

/// Adds `handler` to every event, replacing Sentinel's handlers of the other mode (or of
/// another copy of the binary). Returns how many events changed (0 when already there).
pub fn install(path: &Path, handler: &Value) -> Result<usize, InstallError> {
    let not_object = || InstallError::NotAnObject {
        path: path.to_path_buf(),
    };
    let mut settings = read(path)?;
    let hooks = settings
        .entry("hooks", || Json::Object(Vec::new()))
        .ok_or_else(not_object)?;
    if hooks.as_object_mut().is_none() {
        return Err(not_object());
    }
    let mut changed = 0;
    for event in EVENTS {
        let Some(groups) = hooks
            .entry(event, || Json::Array(Vec::new()))
            .and_then(Json::as_array_mut)
        else {
            continue;
        };
        let replaced = remove_handlers(groups, |h| h != handler && is_sentinel_handler(h));
        let present = groups.iter().any(|g| contains_handler(g, handler));
        if !present {
            let mut group = Vec::new();
            if TOOL_EVENTS.contains(&event) {
                group.push(("matcher".to_string(), Json::String("*".to_string())));
            }
            group.push(("hooks".to_string(), Json::Array(vec![handler.into()])));
            groups.push(Json::Object(group));
        }
        if replaced > 0 || !present {
            changed += 1;
        }
    }
    if changed > 0 {
        write(path, &settings)?;
    }
    Ok(changed)
}

/// Removes every occurrence of `handlers` (and any other Sentinel handler), and the groups
/// and events left empty by that. Returns how many handlers were removed.
pub fn uninstall(path: &Path, handlers: &[Value]) -> Result<usize, InstallError> {
    if !path.exists() {
        return Ok(0);
    }
    let mut settings = read(path)?;
    let mut removed = 0;
    if let Some(hooks) = settings.get_mut("hooks").and_then(Json::as_object_mut) {
        for (_, groups) in hooks.iter_mut() {
            if let Some(groups) = groups.as_array_mut() {
                removed +=
                    remove_handlers(groups, |h| handlers.contains(h) || is_sentinel_handler(h));
            }
        }
        hooks.retain(|(_, groups)| !matches!(groups, Json::Array(g) if g.is_empty()));
        if hooks.is_empty() {
            if let Some(entries) = settings.as_object_mut() {
                entries.retain(|(k, _)| k != "hooks");
            }
        }
    }
    if removed > 0 {
        write(path, &settings)?;
    }
    Ok(removed)
}

/// Takes the handlers `drop` picks out of each group, and the groups that leaves empty.
fn remove_handlers(groups: &mut Vec<Json>, drop: impl Fn(&Value) -> bool) -> usize {
    let mut removed = 0;
    groups.retain_mut(|group| {
        let Some(list) = group.get_mut("hooks").and_then(Json::as_array_mut) else {
            return true;
        };
        let before = list.len();
        list.retain(|h| !drop(&h.to_value()));
        removed += before - list.len();
        list.len() == before || !list.is_empty()
    });
    removed
}

fn contains_handler(group: &Json, handler: &Value) -> bool {
    match group {
        Json::Object(entries) => entries.iter().any(|(k, list)| {
            k == "hooks"
                && matches!(list, Json::Array(items) if items.iter().any(|h| h.to_value() == *handler))
        }),
        _ => false,
    }
}

fn read(path: &Path) -> Result<Json, InstallError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Json::Object(Vec::new()))
        }
        Err(source) => {
            return Err(InstallError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Json::Object(Vec::new()));
    }
    match serde_json::from_str(&text) {
        Ok(object @ Json::Object(_)) => Ok(object),
        _ => Err(InstallError::NotAnObject {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes atomically; the first time, the previous file is kept as a backup.
fn write(path: &Path, settings: &Json) -> Result<(), InstallError> {
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
    let mut text = serde_json::to_string_pretty(settings).expect("a JSON tree serialises");
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

    fn sentinel_handlers(path: &Path) -> Vec<Value> {
        let settings: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut found = Vec::new();
        for groups in settings["hooks"].as_object().unwrap().values() {
            for group in groups.as_array().unwrap() {
                for h in group["hooks"].as_array().unwrap() {
                    if is_sentinel_handler(h) {
                        found.push(h.clone());
                    }
                }
            }
        }
        found
    }

    #[test]
    fn one_mode_replaces_the_other_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let user = json!({"type": "command", "command": "my-check"});
        let existing = json!({"hooks": {"Stop": [{"hooks": [user]}]}});
        std::fs::write(&path, existing.to_string()).unwrap();
        let http = handler(Mode::Http, Path::new(""), "http://127.0.0.1:4319/v1/hooks");
        // An install by another copy of the binary is replaced too.
        let other_copy = handler(Mode::Command, Path::new("/opt/x/sentinel"), "");
        assert_eq!(install(&path, &other_copy).unwrap(), EVENTS.len());
        let small = handler(Mode::Command, Path::new("/opt/x/sentinel-hook"), "");
        assert_eq!(small["command"], "'/opt/x/sentinel-hook'");
        for (mode, ours) in [
            ("small binary", small.clone()),
            ("command", ours()),
            ("http", http.clone()),
            ("command", ours()),
        ] {
            assert_eq!(install(&path, &ours).unwrap(), EVENTS.len(), "{mode}");
            assert_eq!(sentinel_handlers(&path), vec![ours; EVENTS.len()], "{mode}");
        }
        let settings: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(settings["hooks"]["Stop"][0]["hooks"], json!([user]));
        assert_eq!(settings["hooks"]["Stop"].as_array().unwrap().len(), 2);
        assert_eq!(uninstall(&path, &[]).unwrap(), EVENTS.len());
        let restored: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(restored, existing);
    }

    #[test]
    fn both_binaries_are_recognised_and_nothing_else() {
        let command = |c: &str| json!({"type": "command", "command": c});
        for ours in ["'/usr/bin/sentinel' hook", "'/opt/x/sentinel-hook'"] {
            assert!(is_sentinel_handler(&command(ours)), "{ours}");
        }
        for theirs in [
            "'/usr/bin/sentinel-hook' hook",
            "'/usr/bin/sentinel'",
            "'/usr/bin/sentinel-hooks'",
            "/usr/bin/sentinel hook",
            "my-check",
        ] {
            assert!(!is_sentinel_handler(&command(theirs)), "{theirs}");
        }
    }

    #[test]
    fn the_small_binary_is_preferred_when_it_sits_beside_sentinel() {
        let dir = tempfile::tempdir().unwrap();
        let sentinel = dir.path().join("sentinel");
        assert_eq!(hook_executable(&sentinel), sentinel);
        std::fs::write(dir.path().join(HOOK_BINARY), "").unwrap();
        assert_eq!(hook_executable(&sentinel), dir.path().join(HOOK_BINARY));
    }

    #[test]
    fn other_keys_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let original = r#"{"zModel": "opus", "permissions": {"deny": [], "allow": ["Bash(ls)"]}, "env": {"B": "1", "A": "2"}}"#;
        std::fs::write(&path, original).unwrap();
        install(&path, &ours()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("zModel") < at("permissions") && at("permissions") < at("\"env\""));
        assert!(at("\"deny\"") < at("\"allow\"") && at("\"B\"") < at("\"A\""));
        assert!(at("\"env\"") < at("\"hooks\""), "hooks is added at the end");
        uninstall(&path, &[ours()]).unwrap();
        // Compared as ordered trees: the same keys in the same order as before.
        let ordered = |text: &str| serde_json::from_str::<Json>(text).unwrap();
        assert_eq!(
            ordered(&std::fs::read_to_string(&path).unwrap()),
            ordered(original)
        );
    }

    #[test]
    fn a_project_that_does_not_exist_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-project");
        assert!(matches!(
            settings_path(Some(&missing)),
            Err(InstallError::NoProject { .. })
        ));
        assert!(!missing.exists());
        assert_eq!(
            settings_path(Some(dir.path())).unwrap(),
            dir.path().join(".claude/settings.json")
        );
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
