//! Behaviour of rules, states and records against the real PromQL engine.

use std::time::Duration;

use sentinel_pipeline::config::{decode, parse_yaml};
use sentinel_pipeline::otlp::common::v1::any_value::Value as Any;
use sentinel_pipeline::otlp::logs::v1::LogRecord;

use super::engine::{Labels, Window, WindowLimits};
use super::group::{EvalSettings, GroupRuntime};
use super::persist::ForState;
use super::rules::{compile, RuleFileSpec};

const S: i64 = 1000;

fn group(yaml: &str) -> GroupRuntime {
    let node = parse_yaml("rules.yaml", yaml).unwrap().unwrap();
    let spec: RuleFileSpec = decode(&node).unwrap();
    let groups = compile(&spec.groups, node.get("groups"), "rules.yaml", Some(yaml)).unwrap();
    GroupRuntime::new(groups.into_iter().next().unwrap(), Duration::from_secs(10))
}

fn load_errors(yaml: &str) -> Vec<String> {
    let node = parse_yaml("rules.yaml", yaml).unwrap().unwrap();
    let spec: RuleFileSpec = match decode(&node) {
        Ok(spec) => spec,
        Err(d) => return vec![d.to_string()],
    };
    compile(&spec.groups, node.get("groups"), "rules.yaml", Some(yaml))
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn window() -> Window {
    Window::new(WindowLimits {
        lookback: Duration::from_secs(300),
        max_series: 1000,
        max_samples: 100_000,
        range_needed: Duration::from_secs(600),
    })
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn attr<'a>(record: &'a LogRecord, key: &str) -> &'a Any {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .unwrap_or_else(|| panic!("no attribute {key}"))
}

fn text(record: &LogRecord, key: &str) -> String {
    match attr(record, key) {
        Any::StringValue(s) => s.clone(),
        other => panic!("{key} is {other:?}"),
    }
}

struct Run {
    group: GroupRuntime,
    window: Window,
    external: Labels,
}

impl Run {
    fn new(yaml: &str) -> Run {
        Run {
            group: group(yaml),
            window: window(),
            external: labels(&[("site", "eu")]),
        }
    }

    fn sample(&mut self, name: &str, t: i64, value: f64) {
        self.window
            .append(&labels(&[("__name__", name), ("job", "db")]), t, value);
    }

    /// Evaluates at `t` and returns `state` of each record.
    fn eval(&mut self, t: i64) -> Vec<String> {
        self.records(t).iter().map(|r| text(r, "state")).collect()
    }

    fn records(&mut self, t: i64) -> Vec<LogRecord> {
        let settings = EvalSettings {
            external_labels: &self.external,
            resend_delay: Duration::from_secs(60),
        };
        let out = self.group.eval(&mut self.window, t, &settings);
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        out.records
    }
}

const DOWN: &str = "
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 30s
        labels: {severity: critical}
        annotations:
          summary: '{{ $labels.job }} down ({{ $value }}) in {{ $externalLabels.site }}'
";

#[test]
fn pending_then_firing_then_resolved_with_resends() {
    let mut run = Run::new(DOWN);
    for t in (0..=400).step_by(10) {
        run.sample("up", t * S, if (20..=200).contains(&t) { 0.0 } else { 1.0 });
    }
    assert!(run.eval(10 * S).is_empty());
    assert_eq!(run.eval(20 * S), ["pending"]);
    assert!(run.eval(30 * S).is_empty(), "pending is emitted once");
    assert!(run.eval(40 * S).is_empty());
    let fired = run.records(50 * S);
    assert_eq!(fired.len(), 1);
    let r = &fired[0];
    assert_eq!(text(r, "state"), "firing");
    assert_eq!(text(r, "alertname"), "Down");
    assert_eq!(text(r, "startsAt"), "1970-01-01T00:00:50.000Z");
    // ValidUntil: ts + 4 × max(interval 10s, resend 1m).
    assert_eq!(text(r, "endsAt"), "1970-01-01T00:04:50.000Z");
    assert_eq!(r.severity_text, "ERROR");
    assert_eq!(r.event_name, "sentinel.alert");
    let body = match r.body.as_ref().unwrap().value.as_ref().unwrap() {
        Any::StringValue(s) => s.clone(),
        _ => panic!(),
    };
    assert_eq!(body, "db down (0) in eu");
    assert_eq!(text(r, "fingerprint").len(), 16);
    let Any::KvlistValue(kv) = attr(r, "labels") else {
        panic!()
    };
    let keys: Vec<&str> = kv.values.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["alertname", "job", "severity", "site"]);
    // Re-sent when last send + 1m is before ts: at 120s (50 + 60 < 120), not at 110s.
    let sends: Vec<i64> = (6..=20)
        .filter(|t| !run.eval(t * 10 * S).is_empty())
        .map(|t| t * 10)
        .collect();
    assert_eq!(sends, [120, 190]);
    let resolved = run.records(210 * S);
    assert_eq!(text(&resolved[0], "state"), "resolved");
    assert_eq!(text(&resolved[0], "endsAt"), "1970-01-01T00:03:30.000Z");
    // Resolved alerts are re-sent for 15 minutes, then forgotten.
    let later: usize = (22..=120).map(|t| run.eval(t * 10 * S).len()).sum();
    // 280s, 350s, … 1050s; at 1120s it is more than 15m past 210s and deleted.
    assert_eq!(later, 12, "one resend each 70s within 15m");
}

#[test]
fn a_pending_alert_that_misses_one_evaluation_restarts_its_for() {
    let mut run = Run::new(DOWN);
    for t in (0..=100).step_by(10) {
        run.sample("up", t * S, if t == 30 { 1.0 } else { 0.0 });
    }
    assert_eq!(run.eval(0), ["pending"]);
    assert!(run.eval(20 * S).is_empty());
    assert!(
        run.eval(30 * S).is_empty(),
        "gone: no record for a pending alert"
    );
    assert_eq!(run.eval(40 * S), ["pending"]);
    assert!(run.eval(60 * S).is_empty());
    assert_eq!(run.eval(70 * S), ["firing"]);
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let mut run =
        Run::new("groups: [{name: g, rules: [{alert: A, expr: 'x > 1', keep_firing_for: 25s}]}]");
    for t in (0..=100).step_by(10) {
        run.sample("x", t * S, if t <= 20 { 5.0 } else { 0.0 });
    }
    assert_eq!(run.eval(0), ["firing"], "no `for`: fires at once");
    run.eval(20 * S);
    for t in [30, 40] {
        run.eval(t * S);
        let firing = run.group.for_state();
        assert_eq!(firing.len(), 1, "kept firing at {t}s");
    }
    assert_eq!(run.eval(60 * S), ["resolved"], "30s after it was last true");
}

#[test]
fn for_state_survives_a_restart_and_fires_after_the_remaining_time() {
    let mut run = Run::new(DOWN);
    for t in (0..=120).step_by(5) {
        run.sample("up", t * S, 0.0);
    }
    assert_eq!(run.eval(0), ["pending"]);
    run.eval(20 * S);
    // Saved at 20s, down 40s: the alert had spent 20 of its 30s pending.
    let state = ForState {
        saved_at_ms: 20 * S,
        alerts: run
            .group
            .for_state()
            .into_iter()
            .map(|(rule, labels, active_at_ms)| super::persist::ForEntry {
                group: run.group.key(),
                rule,
                labels,
                active_at_ms,
            })
            .collect(),
    };
    let dir = std::env::temp_dir().join(format!("alert_rules_for_{}", std::process::id()));
    let path = dir.join("for_state.json");
    state.save(&path).unwrap();
    let loaded = ForState::load(&path).unwrap();
    let mut restarted = Run::new(DOWN);
    restarted.window = std::mem::replace(&mut run.window, window());
    restarted
        .group
        .set_restore(loaded.restore_for(&restarted.group.key(), 0, 3_600_000));
    assert!(restarted.eval(60 * S).is_empty(), "restored, still pending");
    assert!(restarted.eval(65 * S).is_empty());
    assert_eq!(
        restarted.eval(70 * S),
        ["firing"],
        "10s after the restart, not 30s"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn recording_rules_feed_later_rules_and_are_emitted() {
    let mut run = Run::new(
        "
groups:
  - name: g
    rules:
      - record: job:x:sum
        expr: sum by (job) (x)
        labels: {team: db}
      - alert: Big
        expr: job:x:sum > 5
        annotations: {summary: '{{ $value | humanize }}'}
",
    );
    run.sample("x", 0, 7000.0);
    let settings = EvalSettings {
        external_labels: &run.external,
        resend_delay: Duration::from_secs(60),
    };
    let out = run.group.eval(&mut run.window, 0, &settings);
    assert_eq!(
        out.recorded,
        [(
            labels(&[("__name__", "job:x:sum"), ("job", "db"), ("team", "db")]),
            7000.0
        )]
    );
    assert_eq!(out.records.len(), 1);
    let Any::KvlistValue(kv) = attr(&out.records[0], "annotations") else {
        panic!()
    };
    assert_eq!(
        format!("{:?}", kv.values[0].value.as_ref().unwrap().value),
        "Some(StringValue(\"7k\"))"
    );
}

#[test]
fn load_errors_name_the_place_and_the_construct() {
    let errors = load_errors(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: holt_winters(x[5m], 0.5, 0.5) > 1\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("rules.yaml:5:15:"), "{}", errors[0]);
    assert!(errors[0].contains("holt_winters"), "{}", errors[0]);

    let errors = load_errors(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        fro: 5m\n",
    );
    assert!(errors[0].starts_with("rules.yaml:6:9:"), "{errors:?}");
    assert!(errors[0].contains("fro"), "{errors:?}");

    let errors = load_errors(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          summary: '{{ if $value }}x{{ end }}'\n",
    );
    assert!(errors[0].starts_with("rules.yaml:7:"), "{errors:?}");
    assert!(errors[0].contains("\"if\""), "{errors:?}");

    let errors = load_errors(
        "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: |\n          sum(\n            rate(x[5m])) by (\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("rules.yaml:"), "{errors:?}");

    let errors = load_errors("groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n");
    assert!(errors[0].contains("repeated"), "{errors:?}");
    let errors = load_errors(
        "groups:\n  - name: g\n    rules:\n      - record: a\n        alert: b\n        expr: up\n",
    );
    assert!(errors[0].contains("only one of"), "{errors:?}");
}

#[test]
fn evaluation_times_are_aligned_to_the_interval() {
    let g = group("groups: [{name: g, interval: 10s, rules: []}]");
    let first = g.next_eval(1_000_000);
    assert!((1_000_000..1_010_000).contains(&first));
    assert_eq!(g.next_eval(first), first);
    assert_eq!(g.next_eval(first + 1), first + 10_000);
    let other = group("groups: [{name: other, interval: 10s, rules: []}]");
    assert_eq!(
        other.next_eval(first + 1) % 10_000,
        other.next_eval(0) % 10_000
    );
}
