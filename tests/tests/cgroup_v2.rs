//! The `container` scraper against a real cgroup v2: the agent is started in a cgroup of
//! its own, in a private mount namespace with cgroup2 mounted at `/sys/fs/cgroup` (as a
//! container runtime does), and its `container.cpu.time` must agree with the CPU time the
//! kernel reports for the agent's process. Only `cpu.stat` is asserted: which controllers
//! (and so `cpu.max`, `memory.max`) a child cgroup gets depends on the host, and on a
//! hybrid cgroup v1 host they stay with v1. Without root, cgroup2 or `unshare` the test is
//! reported as ignored, with the reason (see `tests/build.rs`).

use std::path::Path;
use std::process::Command;

use sentinel_tests::{free_port, read_json_lines, sentinel_bin};
use serde_json::Value;

/// Every point of metric `name` in the file exporter's output, in order: (resource, point).
fn points_of(path: &Path, name: &str) -> Vec<(Value, Value)> {
    let mut found = Vec::new();
    for line in read_json_lines(path) {
        for rm in line["resourceMetrics"].as_array().into_iter().flatten() {
            let metrics = rm["scopeMetrics"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["metrics"].as_array().into_iter().flatten());
            for metric in metrics.filter(|m| m["name"] == name) {
                let data = metric.get("sum").or_else(|| metric.get("gauge"));
                for point in data
                    .and_then(|d| d["dataPoints"].as_array())
                    .into_iter()
                    .flatten()
                {
                    found.push((rm["resource"].clone(), point.clone()));
                }
            }
        }
    }
    found
}

fn number(point: &Value) -> f64 {
    point["asDouble"]
        .as_f64()
        .or_else(|| point["asInt"].as_str().and_then(|s| s.parse().ok()))
        .or_else(|| point["asInt"].as_f64())
        .unwrap_or(f64::NAN)
}

fn attribute(value: &Value, key: &str) -> Option<String> {
    value["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| {
            let v = &kv["value"];
            v["stringValue"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v["intValue"].to_string().trim_matches('"').to_string())
        })
}

#[test]
#[cfg_attr(
    not(sentinel_root),
    ignore = "needs root: mounts cgroup2 in a private mount namespace"
)]
#[cfg_attr(
    all(sentinel_root, not(sentinel_cgroup2)),
    ignore = "needs a kernel with cgroup2"
)]
#[cfg_attr(
    all(sentinel_root, sentinel_cgroup2, not(sentinel_unshare)),
    ignore = "needs unshare (util-linux)"
)]
fn container_cpu_time_is_the_agents_own_cgroup() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("metrics.jsonl");
    let config = dir.path().join("agent.yaml");
    // This agent alone: other tests' agents run meanwhile, and `timeout` and the shell
    // carry the same config path in their command lines.
    let only_this_agent = format!("^\\S*sentinel run --config {}$", config.display());
    std::fs::write(
        &config,
        format!(
            "receivers:\n  hostmetrics:\n    collection_interval: 1s\n    scrapers:\n      container:\n      process:\n        include: {{ command_lines: ['{}'], match_type: regexp }}\nexporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{}\n  pipelines:\n    metrics:\n      receivers: [hostmetrics]\n      exporters: [file]\n",
            only_this_agent,
            out.display(),
            free_port()
        ),
    )
    .unwrap();
    let cgroup = format!("sentinel-test-{}", std::process::id());
    // The shell joins the new cgroup, so the agent it starts is born there; afterwards it
    // leaves and removes the (then empty) cgroup, which lives in the host's hierarchy.
    let script = format!(
        "set -e\nmount -t cgroup2 none /sys/fs/cgroup\nmkdir /sys/fs/cgroup/{cgroup}\necho $$ > /sys/fs/cgroup/{cgroup}/cgroup.procs\ntimeout -s TERM 4 '{bin}' run --config '{config}' || true\necho $$ > /sys/fs/cgroup/cgroup.procs\nrmdir /sys/fs/cgroup/{cgroup}\n",
        bin = sentinel_bin().display(),
        config = config.display()
    );
    let output = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    let log = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{log}");

    // container.cpu.time (user + system) per scrape, and the agent's process.cpu.time from
    // the same scrapes (same time stamp).
    let container: Vec<(String, f64)> = points_of(&out, "container.cpu.time")
        .into_iter()
        .map(|(_, p)| (p["timeUnixNano"].to_string(), number(&p)))
        .collect();
    assert!(
        container.len() >= 4,
        "two points (user, system) per scrape over 4 s: {container:?}\n{log}"
    );
    let agent_pid = points_of(&out, "process.cpu.time")
        .first()
        .and_then(|(resource, _)| attribute(resource, "process.pid"))
        .unwrap_or_else(|| panic!("the agent did not report itself\n{log}"));
    let process: Vec<(String, f64)> = points_of(&out, "process.cpu.time")
        .into_iter()
        .filter(|(r, _)| attribute(r, "process.pid").as_deref() == Some(agent_pid.as_str()))
        .map(|(_, p)| (p["timeUnixNano"].to_string(), number(&p)))
        .collect();
    let total_at = |series: &[(String, f64)], time: &str| -> f64 {
        series
            .iter()
            .filter(|(t, _)| t == time)
            .map(|(_, v)| v)
            .sum()
    };
    let last_time = container.last().unwrap().0.clone();
    let cgroup_secs = total_at(&container, &last_time);
    assert!(
        process.iter().any(|(t, _)| *t == last_time),
        "the agent's process.cpu.time from the same scrape: {process:?}"
    );
    let agent_secs = total_at(&process, &last_time);
    assert!(
        cgroup_secs > 0.0 && cgroup_secs < 4.0,
        "the cgroup holds only the agent (and an idle shell): {cgroup_secs} s"
    );
    // Both are read in the same scrape; the process figure has clock-tick resolution.
    let tick = 0.02;
    assert!(
        (cgroup_secs - agent_secs).abs() <= tick + 0.1 * cgroup_secs,
        "cgroup {cgroup_secs} s vs agent process {agent_secs} s"
    );
    let totals: Vec<f64> = container
        .chunks(2)
        .map(|pair| pair.iter().map(|(_, v)| v).sum())
        .collect();
    assert!(
        totals.windows(2).all(|w| w[1] >= w[0]),
        "cumulative: {totals:?}"
    );
}
