//! The CLI on configs, against the real binary: every shipped config validates,
//! `validate` reports problems at `file:line:col` with suggestions (unknown keys, loops
//! through connectors, undefined references, bad endpoints), `print-config` redacts
//! secrets, and `components` lists every type.

use std::process::Command;

use sentinel_tests::{sentinel_bin, workspace_root};

/// YAML files in config/ that are data for a component, not agent configs; each is checked
/// by its component's tests (llm-prices.yaml: `llm_cost`'s price tests).
const DATA_FILES: &[&str] = &["llm-prices.yaml", "hook-policy.yaml"];

#[test]
fn every_shipped_config_validates() {
    let mut files = Vec::new();
    let mut stack = vec![workspace_root().join("config")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // config/alerts holds rule files: tests/tests/alert_rules_cli.rs checks them.
                if !path.ends_with("config/alerts") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
                && !path
                    .file_name()
                    .is_some_and(|n| DATA_FILES.iter().any(|d| n == *d))
            {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 3, "config/ ships pipelines: {files:?}");
    for file in files {
        // Variables that shipped configs require on purpose (no default for a DSN).
        let output = Command::new(sentinel_bin())
            .arg("validate")
            .arg("--config")
            .arg(&file)
            .env(
                "SENTINEL_PG_DSN",
                "postgresql://sentinel@127.0.0.1:5432/telemetry",
            )
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} is invalid:\n{}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn validate_reports_an_unknown_key_with_line_column_and_suggestion() {
    let (code, stderr, file) = validate_text(
        "typo.yaml",
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpont: 127.0.0.1:4317\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n",
    );
    assert_eq!(code, Some(1));
    let expected_prefix = format!("{file}:5:9:");
    assert!(
        stderr.contains(&expected_prefix),
        "FILE:LINE:COL of the key: {stderr}"
    );
    assert!(stderr.contains("endpont"), "{stderr}");
    assert!(stderr.contains("did you mean \"endpoint\""), "{stderr}");
}

#[test]
fn validate_rejects_pipelines_that_loop_through_connectors() {
    let (code, stderr, file) = validate_text(
        "cycle.yaml",
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:4317\nexporters:\n  debug:\nconnectors:\n  forward/ab:\n  forward/ba:\nservice:\n  pipelines:\n    logs/a:\n      receivers: [otlp, forward/ba]\n      exporters: [forward/ab]\n    logs/b:\n      receivers: [forward/ab]\n      exporters: [debug, forward/ba]\n",
    );
    assert_eq!(code, Some(1));
    let expected = format!(
        "{}:18:26: connector forward/ba closes a cycle of pipelines: logs/a -> forward/ab -> logs/b -> forward/ba -> logs/a",
        file
    );
    assert!(
        stderr.lines().any(|line| line.contains(&expected)),
        "FILE:LINE:COL of the reference closing the cycle: {stderr}"
    );
}

#[test]
fn validate_reports_undefined_references_and_bad_endpoints() {
    let (code, stderr, file) = validate_text(
        "bad.yaml",
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: localhost\nexporters:\n  debug:\n  file/unused:\n    path: /tmp/x\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debgu]\n",
    );
    assert_eq!(code, Some(1));
    let path = file;
    assert!(
        stderr.contains(&format!("{path}:5:")),
        "bad endpoint on line 5: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{path}:14:")),
        "undefined exporter on line 14: {stderr}"
    );
    assert!(
        stderr.contains("debgu") && stderr.contains("debug"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning") && stderr.contains("file/unused"),
        "unused warning: {stderr}"
    );
}

#[test]
fn print_config_redacts_secrets_and_components_lists_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.yaml");
    std::fs::write(
        &file,
        "receivers:\n  otlp:\nexporters:\n  otlp:\n    endpoint: ${env:GATEWAY:-127.0.0.1:4999}\n    headers:\n      x-api-key: ${env:API_KEY}\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [otlp]\n",
    )
    .unwrap();
    let output = Command::new(sentinel_bin())
        .args(["print-config", "--config"])
        .arg(&file)
        .env("API_KEY", "hunter2-secret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("127.0.0.1:4999"),
        "env default expanded: {stdout}"
    );
    assert!(stdout.contains("[redacted]"), "{stdout}");
    assert!(
        !stdout.contains("hunter2"),
        "the secret never prints: {stdout}"
    );
    assert!(
        stdout.contains("compression: \"gzip\""),
        "defaults are shown: {stdout}"
    );

    // Without the variable, the config is invalid and says which variable is missing.
    let output = Command::new(sentinel_bin())
        .args(["validate", "--config"])
        .arg(&file)
        .env_remove("API_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":7:18:") && stderr.contains("API_KEY"),
        "{stderr}"
    );

    let output = Command::new(sentinel_bin())
        .arg("components")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    for (kind, name) in [
        ("receiver", "otlp"),
        ("receiver", "postgresql"),
        ("receiver", "pgbouncer"),
        ("receiver", "redis"),
        ("processor", "pool_metrics"),
        ("processor", "batch"),
        ("processor", "memory_limiter"),
        ("processor", "attributes"),
        ("processor", "resource"),
        ("exporter", "otlp"),
        ("exporter", "otlphttp"),
        ("exporter", "file"),
        ("exporter", "debug"),
        ("exporter", "prometheus"),
        ("exporter", "blackhole"),
        ("connector", "forward"),
        ("connector", "count"),
        ("processor", "llm_cost"),
        ("connector", "llm_cost"),
        ("receiver", "hooks"),
        ("connector", "hook_metrics"),
        ("connector", "spanmetrics"),
        ("connector", "anomaly"),
        ("connector", "alert_rules"),
        ("processor", "filter"),
        ("processor", "probabilistic_sampler"),
        ("processor", "dedup"),
        ("processor", "tail_sampling"),
        ("receiver", "httpcheck"),
        ("receiver", "tcpcheck"),
    ] {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(kind) && l.split_whitespace().nth(1) == Some(name)),
            "{kind} {name} missing:\n{listing}"
        );
    }
    // Columns line up: every signals column starts where the header's does.
    let column = listing.find("SIGNALS").expect("a header");
    let prometheus = listing
        .lines()
        .find(|l| l.starts_with("exporter") && l.contains(" prometheus "))
        .expect("the prometheus exporter");
    assert_eq!(prometheus.find("metrics "), Some(column), "{listing}");
}

/// `sentinel validate` on `text` (written as `name` in a temp dir): the exit code, stderr
/// and the file's path as the messages name it.
fn validate_text(name: &str, text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let output = Command::new(sentinel_bin())
        .args(["validate", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.code(), stderr, file.display().to_string())
}

#[test]
fn validate_reports_three_different_problems_at_once_in_user_words() {
    let config = "receivers:\n  hostmetrics:\n    scrapers:\n      cpu:\n        metrics:\n          system.cpu.utilisation:\n            enabled: true\n      memry: {}\nprocessors:\n  memory_limiter:\n    limit_mib: lots\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [hostmetrics]\n      processors: [memory_limiter]\n      exporters: [debug]\n";
    let (code, stderr, file) = validate_text("three.yaml", config);
    assert_ne!(code, Some(0));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{file}:5:9: scrapers.cpu.metrics: unknown key \"system.cpu.utilisation\"; did you mean \"system.cpu.utilization\"?"),
            format!("{file}:8:7: unknown key \"memry\"; did you mean \"memory\"?"),
            format!("{file}:11:16: `limit_mib` must be a whole number of MiB, not `lots`"),
        ],
        "{stderr}"
    );
    let (code, stderr, _) = validate_text(
        "list.yaml",
        "receivers:\n  hostmetrics:\n    scrapers: [cpu]\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [hostmetrics]\n      exporters: [debug]\n",
    );
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains(":3:15: `scrapers` is a map: write `cpu: {}`"),
        "{stderr}"
    );
}

#[test]
fn validate_names_a_missing_file_without_a_position() {
    let output = Command::new(sentinel_bin())
        .args(["validate", "--config", "/nonexistent/sentinel.yaml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "/nonexistent/sentinel.yaml: cannot read config file: no such file"
    );
}

#[test]
fn validate_warns_about_otlp_plaintext_traps() {
    let pipeline =
        "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n";
    let local = format!(
        "receivers:\n  otlp:\nexporters:\n  otlp:\n    endpoint: 127.0.0.1:4317\n{pipeline}"
    );
    let (code, stderr, file) = validate_text("local.yaml", &local);
    assert_eq!(
        code,
        Some(0),
        "a warning does not fail validation: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:5:15: warning: `endpoint: 127.0.0.1:4317` is this machine and there is no `tls` block")),
        "{stderr}"
    );
    let remote = local.replace("127.0.0.1:4317", "http://gateway.example:4317");
    let (code, stderr, _) = validate_text("remote.yaml", &remote);
    assert!(
        code == Some(0) && stderr.contains("to `gateway.example` unencrypted"),
        "{stderr}"
    );
    let chosen = local.replace("4317\n", "4317\n    tls:\n      insecure: true\n");
    let (code, stderr, _) = validate_text("chosen.yaml", &chosen);
    assert!(code == Some(0) && !stderr.contains("warning"), "{stderr}");
}
