//! `sentinel hook` as a coding agent runs it: a real process, JSON on stdin, judged by its
//! exit code, stdout and stderr, and by where the event ends up. The event-handling tests
//! run both forms: `sentinel hook` and the small `sentinel-hook` binary.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sentinel_tests::{free_port, sentinel_bin, sentinel_hook_bin};

/// `sentinel hook` (`small: false`) or `sentinel-hook` (`small: true`).
fn hook_command(small: bool) -> Command {
    if small {
        Command::new(sentinel_hook_bin())
    } else {
        let mut command = Command::new(sentinel_bin());
        command.arg("hook");
        command
    }
}

const BOTH: [bool; 2] = [false, true];

fn run_hook(small: bool, event: &str, extra: &[&str], state: &Path) -> Output {
    let mut child = hook_command(small)
        .args(extra)
        .env("XDG_STATE_HOME", state)
        // The token file is looked up under the test's own directory, never the user's.
        .env("XDG_CONFIG_HOME", state.join("config"))
        .env_remove("SENTINEL_HOOK_TOKEN_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sentinel hook");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn bash_event(command: &str) -> String {
    serde_json::json!({
        "session_id": "s-1",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_use_id": "toolu_1",
        "tool_input": {"command": command},
    })
    .to_string()
}

fn closed_endpoint() -> String {
    format!("http://127.0.0.1:{}/v1/hooks", free_port())
}

#[test]
fn deny_exits_2_with_the_reason_on_stderr() {
    for small in BOTH {
        let state = tempfile::tempdir().unwrap();
        let out = run_hook(
            small,
            &bash_event("cd /tmp && sudo rm -rf /"),
            &["--endpoint", &closed_endpoint()],
            state.path(),
        );
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("rm-recursive-root"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn allow_exits_0_silently_and_ask_prints_the_decision_json() {
    for small in BOTH {
        let state = tempfile::tempdir().unwrap();
        let out = run_hook(
            small,
            &bash_event("rm -rf ./target"),
            &["--endpoint", &closed_endpoint()],
            state.path(),
        );
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );

        let policy = state.path().join("policy.yaml");
        std::fs::write(
            &policy,
            "rules:\n  - {id: ask-push, tools: [Bash], action: ask, reason: pushing, when: {program: [git]}}\n",
        )
        .unwrap();
        let out = run_hook(
            small,
            &bash_event("git push origin main"),
            &[
                "--endpoint",
                &closed_endpoint(),
                "--policy",
                policy.to_str().unwrap(),
            ],
            state.path(),
        );
        assert_eq!(out.status.code(), Some(0));
        let decision: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(decision["hookSpecificOutput"]["permissionDecision"], "ask");
        assert_eq!(
            decision["hookSpecificOutput"]["hookEventName"],
            "PreToolUse"
        );
    }
}

#[test]
fn internal_errors_never_block_the_coding_agent() {
    for small in BOTH {
        let state = tempfile::tempdir().unwrap();
        let out = run_hook(
            small,
            "{not json",
            &["--endpoint", &closed_endpoint()],
            state.path(),
        );
        assert_eq!(out.status.code(), Some(0));
        // A broken policy file falls back to the built-in policy: still no crash, still safe.
        let broken = state.path().join("broken.yaml");
        std::fs::write(&broken, "rules: [").unwrap();
        let out = run_hook(
            small,
            &bash_event("rm -rf /"),
            &[
                "--endpoint",
                &closed_endpoint(),
                "--policy",
                broken.to_str().unwrap(),
            ],
            state.path(),
        );
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn events_go_to_the_spool_while_the_agent_is_down() {
    for small in BOTH {
        let state = tempfile::tempdir().unwrap();
        for command in ["ls", "cargo build", "rm -rf /"] {
            run_hook(
                small,
                &bash_event(command),
                &["--endpoint", &closed_endpoint()],
                state.path(),
            );
        }
        let spool = state.path().join("sentinel/hook-spool.jsonl");
        let lines = sentinel_tests::read_json_lines(&spool);
        let commands: Vec<&str> = lines
            .iter()
            .map(|l| l["tool_input"]["command"].as_str().unwrap())
            .collect();
        assert_eq!(commands, ["ls", "cargo build", "rm -rf /"]);
    }
}

#[test]
fn events_are_posted_to_the_endpoint_when_it_answers() {
    for small in BOTH {
        let state = tempfile::tempdir().unwrap();
        let (endpoint, server) = capture_one();
        let out = run_hook(
            small,
            &bash_event("ls -la"),
            &["--endpoint", &endpoint],
            state.path(),
        );
        assert_eq!(out.status.code(), Some(0));
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /v1/hooks HTTP/1.1"), "{request}");
        assert!(request.contains("\"command\":\"ls -la\""), "{request}");
        assert!(
            !state.path().join("sentinel/hook-spool.jsonl").exists(),
            "a delivered event is not spooled"
        );
    }
}

#[test]
fn install_and_uninstall_round_trip_a_project_settings_file() {
    let project = tempfile::tempdir().unwrap();
    let settings = project.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, r#"{"permissions": {"allow": ["Bash(ls)"]}}"#).unwrap();
    let sentinel = |args: &[&str]| {
        let out = Command::new(sentinel_bin()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let dir = project.path().to_str().unwrap();
    assert!(sentinel(&["hook", "install", "--project", dir, "--mode", "http"]).starts_with("32 "));
    let installed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(
        installed["hooks"]["PreToolUse"][0]["hooks"][0]["url"],
        "http://127.0.0.1:4319/v1/hooks"
    );
    assert!(sentinel(&["hook", "uninstall", "--project", dir]).starts_with("32 "));
    let restored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(
        restored,
        serde_json::json!({"permissions": {"allow": ["Bash(ls)"]}})
    );
}

#[test]
fn policy_check_reports_each_problem_at_its_position_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let file = dir.path().join("policy.yaml");
        std::fs::write(&file, text).unwrap();
        let out = Command::new(sentinel_bin())
            .args(["policy", "check"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).replace(file.to_str().unwrap(), "F");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            stderr,
        )
    };
    let (code, _, stderr) = check(
        "rules:\n  - id: a\n    tools: [Bash]\n    action: deny\n    reason: r\n    whenn: {}\n  - {id: a, tools: [Bash], action: deny, reason: r, when: {}}\n",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "F:6:5: unknown key \"whenn\"; did you mean \"when\"?",
            "F:7:53: rule a: `when` needs one check",
        ]
    );
    let shipped = sentinel_tests::workspace_root().join("config/hook-policy.yaml");
    let out = Command::new(sentinel_bin())
        .args(["policy", "check"])
        .arg(&shipped)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("policy is valid (9 rules)"));
    let missing = Command::new(sentinel_bin())
        .args(["policy", "check", "/nonexistent/policy.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/policy.yaml"));
}

#[test]
fn install_switches_modes_in_place_keeps_key_order_and_refuses_a_missing_project() {
    let project = tempfile::tempdir().unwrap();
    let settings = project.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let original = "{\"zModel\": \"opus\", \"env\": {\"B\": \"1\", \"A\": \"2\"}}";
    std::fs::write(&settings, original).unwrap();
    let dir = project.path().to_str().unwrap();
    let sentinel = |args: &[&str]| Command::new(sentinel_bin()).args(args).output().unwrap();
    for mode in ["command", "http", "command", "http"] {
        let out = sentinel(&["hook", "install", "--project", dir, "--mode", mode]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&settings).unwrap();
        let installed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let pre = installed["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 1, "{mode}: one entry, not one per install");
        assert_eq!(pre[0]["hooks"].as_array().unwrap().len(), 1);
        assert_eq!(pre[0]["hooks"][0]["type"], mode);
        let at = |needle: &str| text.find(needle).unwrap();
        assert!(
            at("zModel") < at("\"env\"") && at("\"B\"") < at("\"A\""),
            "{text}"
        );
    }
    let missing = project.path().join("typo");
    let out = sentinel(&["hook", "install", "--project", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !missing.exists(),
        "nothing is created for a mistyped project"
    );
}

/// A hooks endpoint that accepts one request, answers 200, and returns the request's text.
fn capture_one() -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}/v1/hooks");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.ends_with(b"}") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            .unwrap();
        String::from_utf8(request).unwrap()
    });
    (endpoint, server)
}

fn write_token(state: &Path, token: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let dir = state.join("config/sentinel");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hook-token");
    std::fs::write(&path, token).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn the_token_from_a_private_file_is_sent_as_a_bearer_header() {
    let state = tempfile::tempdir().unwrap();
    write_token(state.path(), "tok-e2e-42\n", 0o600);
    let (endpoint, server) = capture_one();
    let out = run_hook(
        false,
        &bash_event("ls"),
        &["--endpoint", &endpoint],
        state.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    let request = server.join().unwrap();
    let head = request.split("\r\n\r\n").next().unwrap();
    assert!(
        head.lines()
            .any(|l| l == "Authorization: Bearer tok-e2e-42"),
        "{head}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn without_a_token_file_no_authorization_header_is_sent() {
    let state = tempfile::tempdir().unwrap();
    let (endpoint, server) = capture_one();
    run_hook(
        false,
        &bash_event("ls"),
        &["--endpoint", &endpoint],
        state.path(),
    );
    let request = server.join().unwrap();
    assert!(
        !request.to_ascii_lowercase().contains("authorization"),
        "{request}"
    );
}

#[test]
fn a_token_file_others_can_read_is_ignored_with_one_warning_and_the_event_spooled() {
    let state = tempfile::tempdir().unwrap();
    write_token(state.path(), "tok-leaky", 0o644);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = run_hook(
        false,
        &bash_event("ls"),
        &["--endpoint", &format!("http://127.0.0.1:{port}/v1/hooks")],
        state.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("hook token file").count(), 1, "{stderr}");
    assert!(stderr.contains("0644"), "{stderr}");
    // Nothing was sent: the listener has no connection waiting.
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the event was sent with a leaky token file"
    );
    let spool = state.path().join("sentinel/hook-spool.jsonl");
    assert_eq!(sentinel_tests::read_json_lines(&spool).len(), 1);
}

#[test]
fn spooled_events_are_redacted_and_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir().unwrap();
    let event = serde_json::json!({
        "session_id": "s-1",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "cat .env"},
        "tool_response": {"stdout": "STRIPE=plain-env-value\nDB_PASSWORD='pw-quoted'"},
        "note": "postgres://app:pg-pass-1@db/app and KEY_sk-ant-api03-abcdefghijklmnopqrstuvwx",
    });
    let out = run_hook(
        false,
        &event.to_string(),
        &["--endpoint", &closed_endpoint()],
        state.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    let spool = state.path().join("sentinel/hook-spool.jsonl");
    let text = std::fs::read_to_string(&spool).unwrap();
    for secret in [
        "plain-env-value",
        "pw-quoted",
        "pg-pass-1",
        "abcdefghijklmnopqrstuvwx",
    ] {
        assert!(!text.contains(secret), "{secret} spooled: {text}");
    }
    assert!(text.contains("[REDACTED]"), "{text}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&spool), 0o600);
    assert_eq!(mode(&state.path().join("sentinel")), 0o700);
}

#[test]
fn install_points_claude_code_at_the_small_binary_beside_sentinel_and_it_runs() {
    // Both binaries are built into the same directory, as a release install ships them.
    let small = sentinel_hook_bin();
    assert_eq!(small.parent(), sentinel_bin().parent());
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join(".claude")).unwrap();
    let dir = project.path().to_str().unwrap();
    let out = Command::new(sentinel_bin())
        .args(["hook", "install", "--project", dir])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings = project.path().join(".claude/settings.json");
    let installed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let command = installed["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(command, format!("'{}'", small.display()));
    // Claude Code runs the command through a shell, the event on stdin.
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new("sh")
        .args(["-c", &format!("{command} --endpoint {}", closed_endpoint())])
        .env("XDG_STATE_HOME", state.path())
        .env("XDG_CONFIG_HOME", state.path().join("config"))
        .env_remove("SENTINEL_HOOK_TOKEN_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let event = bash_event("sudo rm -rf /");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "the policy denies through it");
    // Uninstall recognises the small binary's entries as Sentinel's.
    let out = Command::new(sentinel_bin())
        .args(["hook", "uninstall", "--project", dir])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("32 "));
}
