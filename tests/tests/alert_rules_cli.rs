//! `sentinel alerts check|test` against `promtool` (Debian's `prometheus` package,
//! installed by tests/run-all.sh) on the shipped rule files and their unit tests: both
//! accept every shipped file, both pass every shipped test file, both fail the same test
//! with a deliberately wrong expectation, and a broken rule file is refused with
//! FILE:LINE:COL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sentinel_tests::{sentinel_bin, workspace_root};

fn require(binary: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{binary}` not found: install Debian's `prometheus` package (tests/run-all.sh does)"
    );
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn run(program: &Path, args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(program)
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn shipped() -> PathBuf {
    workspace_root().join("config/alerts")
}

#[test]
fn every_shipped_rule_file_passes_both_checkers() {
    require("promtool");
    let files = yaml_files(&shipped());
    assert!(files.len() >= 5, "{files:?}");
    let ours = run(sentinel_bin(), &["alerts", "check"], &files);
    assert!(ours.status.success(), "{}", text(&ours));
    assert_eq!(text(&ours).matches("SUCCESS").count(), files.len());
    let theirs = run(Path::new("promtool"), &["check", "rules"], &files);
    assert!(theirs.status.success(), "{}", text(&theirs));
    // Every alert says what to do.
    for file in &files {
        let body = std::fs::read_to_string(file).unwrap();
        let alerts = body.matches("- alert:").count();
        for key in ["summary:", "description:", "remediation:"] {
            assert_eq!(
                body.matches(key).count(),
                alerts,
                "{key} in {}",
                file.display()
            );
        }
    }
}

#[test]
fn shipped_unit_tests_pass_in_both_and_a_wrong_expectation_fails_in_both() {
    require("promtool");
    let tests = yaml_files(&shipped().join("tests"));
    assert!(tests.len() >= 5, "{tests:?}");
    let ours = run(sentinel_bin(), &["alerts", "test"], &tests);
    assert!(ours.status.success(), "{}", text(&ours));
    assert_eq!(text(&ours).matches("SUCCESS").count(), tests.len());
    let theirs = run(Path::new("promtool"), &["test", "rules"], &tests);
    assert!(theirs.status.success(), "{}", text(&theirs));

    // The same test with one annotation changed, rule files by absolute path.
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(shipped().join("tests/host_test.yaml")).unwrap();
    let rules = shipped().join("host.yaml");
    let wrong = original
        .replace("[../host.yaml]", &format!("[{}]", rules.display()))
        .replacen(
            "summary: \"CPU busy 95% on a\"",
            "summary: \"CPU busy 96% on a\"",
            1,
        );
    assert_ne!(wrong, original);
    let file = dir.path().join("wrong_test.yaml");
    std::fs::write(&file, wrong).unwrap();
    let files = [file];
    let ours = run(sentinel_bin(), &["alerts", "test"], &files);
    let theirs = run(Path::new("promtool"), &["test", "rules"], &files);
    assert_eq!(ours.status.code(), Some(1), "{}", text(&ours));
    assert_eq!(theirs.status.code(), Some(1), "{}", text(&theirs));
    for out in [&ours, &theirs] {
        let out = text(out);
        assert!(out.contains("alertname: HostHighCpu, time: 16m"), "{out}");
        assert!(
            out.contains("CPU busy 96% on a") && out.contains("CPU busy 95% on a"),
            "{out}"
        );
    }
    // Ours also says which side each difference is on.
    assert!(
        text(&ours).contains("expected but not firing"),
        "{}",
        text(&ours)
    );
}

#[test]
fn a_broken_rule_file_is_refused_with_its_positions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: holt_winters(x[5m], 0.5, 0.5) > 1\n      - alert: B\n        expr: up == 0\n        fro: 5m\n",
    )
    .unwrap();
    let ours = run(
        sentinel_bin(),
        &["alerts", "check"],
        std::slice::from_ref(&file),
    );
    assert_eq!(ours.status.code(), Some(1));
    let out = text(&ours);
    let name = file.display().to_string();
    assert!(out.contains(&format!("{name}:8:9:")), "{out}");
    assert!(out.contains("fro"), "{out}");

    std::fs::write(
        &file,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: holt_winters(x[5m], 0.5, 0.5) > 1\n        annotations:\n          summary: '{{ if $value }}x{{ end }}'\n",
    )
    .unwrap();
    let ours = run(
        sentinel_bin(),
        &["alerts", "check"],
        std::slice::from_ref(&file),
    );
    assert_eq!(ours.status.code(), Some(1));
    let out = text(&ours);
    assert!(
        out.contains(&format!("{name}:5:15:")) && out.contains("holt_winters"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{name}:7:")) && out.contains("\"if\""),
        "{out}"
    );
}
