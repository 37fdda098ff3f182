//! Every YAML block in the README, ARCHITECTURE.md and docs/ is checked by the tool that
//! reads that kind of file: agent configs (whole or a fragment of components) by
//! `sentinel validate`, Prometheus rule files by `sentinel alerts check`, and promtool rule
//! tests by `sentinel alerts test`. A block of a kind this test does not know fails it, so a new kind of
//! example gets a checker rather than going unchecked.

use std::process::Command;

use sentinel_tests::docs::{blocks, markdown_files, DocBlock};
use sentinel_tests::{sentinel_bin, workspace_root};

const AGENT_SECTIONS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "service",
    "tests",
];

/// The block's top-level keys (unindented `key:` lines).
fn top_level_keys(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && !l.trim().is_empty())
        .filter_map(|l| l.split_once(':').map(|(key, _)| key.trim()))
        .collect()
}

/// Runs `sentinel ARGS FILE` from the workspace root (docs name repo-relative paths).
fn sentinel_accepts(block: &DocBlock, args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.yaml");
    std::fs::write(&file, &block.text).unwrap();
    let output = Command::new(sentinel_bin())
        .args(args)
        .arg(&file)
        .current_dir(workspace_root())
        // Secrets the docs take from the environment, as a user would set them.
        .env("POSTGRES_PASSWORD", "example")
        .env("KAFKA_PASSWORD", "example")
        .env(
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.example/services/T0/B0/x",
        )
        .env("PAGERDUTY_ROUTING_KEY", "0123456789abcdef0123456789abcdef")
        .env("LITELLM_PRICES", sentinel_tests::litellm_prices())
        .env(
            "SENTINEL_PG_DSN",
            "postgresql://sentinel@127.0.0.1:5432/telemetry",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} ({:?}) is rejected by `sentinel {}`:\n{stderr}\n--- the block ---\n{}",
        block.place(),
        block.caption,
        args.join(" "),
        block.text
    );
}

/// A promtool rule-test block runs with `sentinel alerts test` next to the rule-file blocks
/// of the same page, each written under the name its `# file: NAME` first line gives.
fn rule_test_passes(block: &DocBlock, all: &[DocBlock]) {
    let dir = tempfile::tempdir().unwrap();
    for rules in all.iter().filter(|b| b.file == block.file) {
        if let Some(name) = rules
            .text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# file: "))
        {
            std::fs::write(dir.path().join(name.trim()), &rules.text).unwrap();
        }
    }
    let file = dir.path().join("example_test.yaml");
    std::fs::write(&file, &block.text).unwrap();
    let output = Command::new(sentinel_bin())
        .args(["alerts", "test"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: the rule test fails:\n{}{}",
        block.place(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_yaml_block_in_the_docs_is_accepted_by_its_reader() {
    let yaml: Vec<DocBlock> = markdown_files()
        .iter()
        .flat_map(|f| blocks(f, "yaml"))
        .collect();
    assert!(yaml.len() >= 8, "the docs' YAML examples: {}", yaml.len());
    for block in &yaml {
        let keys = top_level_keys(&block.text);
        if !keys.is_empty() && keys.iter().all(|k| AGENT_SECTIONS.contains(k)) {
            sentinel_accepts(block, &["validate", "--config"]);
            if keys.contains(&"tests") {
                sentinel_accepts(block, &["test", "--config"]);
            }
        } else if keys == ["groups"] {
            sentinel_accepts(block, &["alerts", "check"]);
        } else if keys.contains(&"rule_files") && keys.contains(&"tests") {
            rule_test_passes(block, &yaml);
        } else {
            panic!(
                "{}: a YAML block of an unknown kind (top-level keys {keys:?}); teach docs_yaml.rs how to check it",
                block.place()
            );
        }
    }
}

#[test]
fn the_block_reader_finds_keys_and_captions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.md");
    std::fs::write(
        &file,
        "# T\n\nA config:\n\n```yaml\nreceivers:\n  otlp:\n# c\nservice:\n```\n\n```sh\nls\n```\n",
    )
    .unwrap();
    let found = blocks(&file, "yaml");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].caption, "A config:");
    assert_eq!(found[0].line, 5);
    assert_eq!(top_level_keys(&found[0].text), vec!["receivers", "service"]);
}
