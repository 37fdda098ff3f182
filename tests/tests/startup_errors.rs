//! Start-up failures and the first run's output, through the real binary with its
//! stdout and stderr in a file (as under journald or a pipe): plain-text logs, JSON logs
//! when asked, an unwritable queue directory naming `SENTINEL_DATA_DIR`, and
//! `queue inspect` refusing a directory that is not a queue.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sentinel_tests::{free_port, sentinel_bin, Agent};
use serde_json::Value;

/// OTLP/HTTP in, `otlphttp` with a disk queue out to a port nobody listens on.
fn disk_queue_config(data_dir: &Path, admin: u16, encoding: &str) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http}\nexporters:\n  otlphttp/backend:\n    endpoint: http://127.0.0.1:{dead}\n    sending_queue:\n      type: disk\nservice:\n  data_dir: {data}\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n    logs:\n      encoding: {encoding}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlphttp/backend]\n",
        http = free_port(),
        dead = free_port(),
        data = data_dir.display(),
    )
}

fn stop(agent: Agent) {
    let status = agent.terminate(Duration::from_secs(20));
    assert!(status.success(), "clean exit: {status}");
}

#[test]
fn logs_in_a_file_have_no_colour_codes_and_json_encoding_gives_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let agent = Agent::start(
        dir.path(),
        "console",
        &disk_queue_config(&dir.path().join("data"), admin, "console"),
        admin,
    );
    let log_path = agent.log_path.clone();
    stop(agent);
    let log = std::fs::read(&log_path).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("Sentinel is running."), "{text}");
    assert!(text.contains("INFO"), "{text}");
    assert!(
        !log.contains(&0x1b),
        "no ESC byte in the log file: {text:?}"
    );

    let admin = free_port();
    let agent = Agent::start(
        dir.path(),
        "json",
        &disk_queue_config(&dir.path().join("data"), admin, "json"),
        admin,
    );
    let log_path = agent.log_path.clone();
    stop(agent);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains('\x1b'), "{log:?}");
    let lines: Vec<Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Sentinel is running."))
            && l["level"] == "INFO"
            && l["timestamp"].is_string()
            && l["target"].is_string()),
        "{log}"
    );
}

#[test]
fn an_unwritable_queue_directory_names_the_setting_and_sentinel_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory must be: fails for root too (tests may run as root).
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let admin = free_port();
    let mut agent = Agent::spawn(
        dir.path(),
        "agent",
        &disk_queue_config(&blocker.join("data"), admin, "console"),
        admin,
    );
    let status = sentinel_tests::wait_with_timeout(&mut agent.child, Duration::from_secs(20))
        .expect("the agent must exit when it cannot open its queue");
    assert_eq!(status.code(), Some(1));
    let log = agent.log();
    for needle in [
        "otlphttp/backend",
        "not-a-directory/data/queues/otlphttp_backend",
        "service.data_dir",
        "SENTINEL_DATA_DIR",
    ] {
        assert!(log.contains(needle), "names {needle}: {log}");
    }
    assert_eq!(log.matches("SENTINEL_DATA_DIR").count(), 1, "once: {log}");
}

fn inspect(dir: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(sentinel_bin())
        .args(["queue", "inspect"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn queue_inspect_on_a_directory_that_is_not_a_queue_says_so_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = free_port();
    let agent = Agent::start(
        dir.path(),
        "agent",
        &disk_queue_config(&data, admin, "console"),
        admin,
    );
    stop(agent);
    let queue = data.join("queues").join("otlphttp_backend");

    // The data directory, as a user would first try: refused, pointing at the queue.
    let (code, stdout, stderr) = inspect(&data);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("not a disk queue"), "{stderr}");
    assert!(
        stderr.contains(&queue.display().to_string()),
        "names the queue below it: {stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");

    // Any other directory: refused, with what is expected.
    let (code, _, stderr) = inspect(dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("<service.data_dir>/queues/<exporter id>"),
        "{stderr}"
    );

    // The queue itself: read.
    let (code, stdout, stderr) = inspect(&queue);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("queue directory:"), "{stdout}");
}
