//! End-to-end: the real `sentinel` binary with the hostmetrics receiver into the file
//! exporter, and the process scraper running as an unprivileged user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sentinel_tests::{eventually, free_port, read_json_lines, sentinel_bin, Agent};
use serde_json::Value;

fn config(out: &Path, admin: u16, process: &str) -> String {
    format!(
        "receivers:\n  hostmetrics:\n    collection_interval: 1s\n    scrapers:\n      cpu:\n      memory:\n      filesystem:\n      network:\n      load:\n      system:\n      process:\n{process}\nexporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    metrics:\n      receivers: [hostmetrics]\n      exporters: [file]\n",
        out.display()
    )
}

/// Metric names seen in the file exporter's output, with the resource of each.
fn metrics_in(path: &Path) -> Vec<(String, Value)> {
    read_json_lines(path)
        .iter()
        .flat_map(|l| l["resourceMetrics"].as_array().cloned().unwrap_or_default())
        .flat_map(|rm| {
            let resource = rm["resource"].clone();
            rm["scopeMetrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|s| s["metrics"].as_array().cloned().unwrap_or_default())
                .map(move |m| {
                    (
                        m["name"].as_str().unwrap_or_default().to_string(),
                        resource.clone(),
                    )
                })
        })
        .collect()
}

fn attribute<'a>(resource: &'a Value, key: &str) -> Option<&'a Value> {
    resource["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

#[test]
fn host_and_process_metrics_reach_the_file_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("metrics.jsonl");
    let admin = free_port();
    let mut probe = Command::new("python3")
        .args([
            "-c",
            "import time; time.sleep(300)",
            "--password=opensesame",
        ])
        .spawn()
        .unwrap();
    // Filters see the redacted command line, so they never match on a secret.
    let process = "        include:\n          command_lines: ['time.sleep(300) --password=***']\n";
    let agent = Agent::start(dir.path(), "host", &config(&out, admin, process), admin);
    let probe_pid = probe.id().to_string();
    let found = eventually(Duration::from_secs(15), || {
        let metrics = metrics_in(&out);
        let names: Vec<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
        [
            "system.cpu.time",
            "system.memory.usage",
            "system.filesystem.usage",
            "system.network.io",
            "system.cpu.load_average.1m",
            "system.uptime",
            "process.memory.usage",
        ]
        .iter()
        .all(|n| names.contains(n))
    });
    let metrics = metrics_in(&out);
    let _ = probe.kill();
    let _ = probe.wait();
    assert!(
        found,
        "all scrapers reported; got {:?}",
        metrics
            .iter()
            .map(|(n, _)| n)
            .collect::<std::collections::BTreeSet<_>>()
    );
    let process_resources: Vec<&Value> = metrics
        .iter()
        .filter(|(n, _)| n == "process.memory.usage")
        .map(|(_, r)| r)
        .collect();
    let probe_resource = process_resources
        .iter()
        .find(|r| {
            attribute(r, "process.pid").and_then(|v| {
                v["intValue"]
                    .as_str()
                    .map(String::from)
                    .or(v["intValue"].as_i64().map(|i| i.to_string()))
            }) == Some(probe_pid.clone())
        })
        .unwrap_or_else(|| panic!("probe {probe_pid} reported: {process_resources:?}"));
    let command_line = attribute(probe_resource, "process.command_line").unwrap()["stringValue"]
        .as_str()
        .unwrap();
    assert!(
        command_line.contains("--password=***") && !command_line.contains("opensesame"),
        "{command_line}"
    );
    let received = agent
        .metric_value(
            "sentinel_component_received_items_total",
            &["component_id=\"hostmetrics\""],
        )
        .unwrap_or(0.0);
    let sent = agent
        .metric_value(
            "sentinel_component_sent_items_total",
            &["component_id=\"hostmetrics\""],
        )
        .unwrap_or(0.0);
    assert!(
        received > 0.0 && received == sent,
        "received {received}, sent {sent}"
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

/// The agent as `nobody` with the given `process:` scraper body, ready. The tests that
/// use it need root and `setpriv`, else they are reported as ignored (see `tests/build.rs`).
fn agent_as_nobody(dir: &Path, process: &str) -> Agent {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.join("metrics.jsonl");
    let admin = free_port();
    let config_path = dir.join("nobody.yaml");
    std::fs::write(&config_path, config(&out, admin, process)).unwrap();
    let log_path = dir.join("nobody.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // setpriv execs the agent, so the child's pid is the agent's.
    let child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(sentinel_bin())
        .args(["run", "--config"])
        .arg(&config_path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut agent = Agent {
        child,
        admin_port: admin,
        config_path,
        log_path,
    };
    agent.wait_ready(Duration::from_secs(20));
    agent
}

fn io_denials(agent: &Agent) -> f64 {
    agent
        .metric_value(
            "sentinel_receiver_scrape_errors_total",
            &["cause=\"io_permission_denied\""],
        )
        .unwrap_or(0.0)
}

/// Waits until io denials were counted on at least three scrapes; returns the log.
fn denials_counted_every_scrape(agent: &Agent) -> String {
    // Root-owned processes (pid 1 at least) deny nobody their io file on every scrape.
    assert!(
        eventually(Duration::from_secs(15), || io_denials(agent) > 0.0),
        "log:\n{}",
        agent.log()
    );
    let first = io_denials(agent);
    assert!(
        eventually(Duration::from_secs(15), || io_denials(agent) >= first * 3.0),
        "counted on every scrape"
    );
    agent.log()
}

fn lines_with(log: &str, text: &str) -> usize {
    log.lines().filter(|l| l.contains(text)).count()
}

#[test]
#[cfg_attr(not(sentinel_root), ignore = "needs root: runs the agent as nobody")]
#[cfg_attr(
    all(sentinel_root, not(sentinel_setpriv)),
    ignore = "needs setpriv (util-linux)"
)]
fn unreadable_processes_are_counted_and_logged_once_per_cause() {
    let dir = tempfile::tempdir().unwrap();
    let process = "        metrics:\n          process.open_file_descriptors: { enabled: true }\n";
    let agent = agent_as_nobody(dir.path(), process);
    let log = denials_counted_every_scrape(&agent);
    assert_eq!(
        lines_with(&log, "io_permission_denied"),
        1,
        "logged once, not per process or per scrape:\n{log}"
    );
    assert!(lines_with(&log, "fd_permission_denied") <= 1, "{log}");
    // The agent's own processes are still reported.
    assert!(metrics_in(&dir.path().join("metrics.jsonl"))
        .iter()
        .any(|(n, _)| n == "process.memory.usage"));
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

#[test]
#[cfg_attr(not(sentinel_root), ignore = "needs root: runs the agent as nobody")]
#[cfg_attr(
    all(sentinel_root, not(sentinel_setpriv)),
    ignore = "needs setpriv (util-linux)"
)]
fn muted_causes_are_counted_but_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    // The Collector's switch: io failures stay counted, their log line goes.
    let process = "        mute_process_io_error: true\n";
    let agent = agent_as_nobody(dir.path(), process);
    let log = denials_counted_every_scrape(&agent);
    assert_eq!(lines_with(&log, "io_permission_denied"), 0, "{log}");
    // Unmuted causes are still logged: other users' exe links are denied too.
    assert_eq!(lines_with(&log, "exe_permission_denied"), 1, "{log}");
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
