//! `sentinel alerts test`: promtool's rule unit tests with promtool's meaning. Input
//! series are loaded at `0, interval, 2·interval, …`; every group is evaluated (in
//! `group_eval_order`, then file order) at `0, evaluation_interval, …` up to the last
//! alert `eval_time`; an alert test at `eval_time` compares the *firing* alerts of its
//! rule after the evaluation at the last step at or before it; `promql_expr_test`s query
//! the window afterwards (input, recorded series and `ALERTS`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use sentinel_pipeline::config::{decode, parse_yaml, Diagnostic, Span};
use sentinel_processors::alert_rules::alerting::State;
use sentinel_processors::alert_rules::config::expand_glob;
use sentinel_processors::alert_rules::duration::PromDuration;
use sentinel_processors::alert_rules::engine::{Labels, Query, Window, WindowLimits};
use sentinel_processors::alert_rules::group::{EvalSettings, GroupRuntime};
use sentinel_processors::alert_rules::rules::{load_file, Group};
use serde::Deserialize;

use super::series::{parse_series, parse_values, Point};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    interval: Option<PromDuration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    /// promtool's key is singular.
    #[serde(default, rename = "alert_rule_test")]
    alert_rule_tests: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: PromDuration,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: PromDuration,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    labels: String,
    value: f64,
}

pub fn run(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Unit Testing:  {}", file.display());
        let problems = test_file(file);
        if problems.is_empty() {
            println!("  SUCCESS\n");
        } else {
            failed = true;
            println!("  FAILED:");
            for problem in problems {
                println!("{problem}");
            }
            println!();
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Every failure of one test file, as printable text.
pub fn test_file(file: &Path) -> Vec<String> {
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) => return vec![format!("    {name}: {err}")],
    };
    let spec: TestFile = match parse_yaml(&name, &text)
        .map_err(Diagnostic::from)
        .and_then(|node| {
            let node = node.ok_or_else(|| {
                Diagnostic::error(Span::new(name.as_str(), 1, 1), "empty test file")
            })?;
            decode(&node)
        }) {
        Ok(spec) => spec,
        Err(diag) => return vec![format!("    {diag}")],
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let groups = match load_rules(dir, &spec.rule_files) {
        Ok(groups) => order(groups, &spec.group_eval_order),
        Err(problems) => return problems,
    };
    let eval_interval = spec
        .evaluation_interval
        .map_or(Duration::from_secs(60), |d| d.0);
    let mut problems = Vec::new();
    for (index, test) in spec.tests.iter().enumerate() {
        let _ = &test.external_url;
        let found = run_test(test, &groups, eval_interval);
        if !found.is_empty() {
            let label = test
                .name
                .clone()
                .unwrap_or_else(|| format!("#{}", index + 1));
            problems.push(format!("    test {label}:"));
            problems.extend(found);
        }
    }
    problems
}

fn load_rules(dir: &Path, patterns: &[String]) -> Result<Vec<Group>, Vec<String>> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for pattern in patterns {
        let full = dir.join(pattern);
        let paths = match expand_glob(&full.to_string_lossy()) {
            Ok(paths) if !paths.is_empty() => paths,
            Ok(_) => {
                problems.push(format!("    rule_files: {pattern:?} matches no file"));
                continue;
            }
            Err(err) => {
                problems.push(format!("    rule_files: {pattern}: {err}"));
                continue;
            }
        };
        for path in paths {
            match load_file(&path) {
                Ok(mut found) => groups.append(&mut found),
                Err(found) => problems.extend(found.iter().map(|d| format!("    {d}"))),
            }
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

/// Groups named in `group_eval_order` first, in that order; the rest as loaded.
fn order(mut groups: Vec<Group>, first: &[String]) -> Vec<Group> {
    groups.sort_by_key(|g| {
        first
            .iter()
            .position(|n| n == &g.name)
            .unwrap_or(usize::MAX)
    });
    groups
}

fn window() -> Window {
    Window::new(WindowLimits {
        lookback: Duration::from_secs(300),
        max_series: usize::MAX / 2,
        max_samples: usize::MAX / 2,
        range_needed: Duration::from_secs(u32::MAX as u64),
    })
}

fn load_input(window: &mut Window, test: &TestGroup, interval: Duration) -> Vec<String> {
    let step = interval.as_millis() as i64;
    let mut problems = Vec::new();
    for input in &test.input_series {
        let (labels, points) = match (parse_series(&input.series), parse_values(&input.values)) {
            (Ok(l), Ok(p)) => (l, p),
            (Err(e), _) | (_, Err(e)) => {
                problems.push(format!("    input series {:?}: {e}", input.series));
                continue;
            }
        };
        for (i, point) in points.iter().enumerate() {
            let t = i as i64 * step;
            match point {
                Point::Value(v) => window.append(&labels, t, *v),
                Point::Stale => window.append_stale(&labels, t),
                Point::Missing => continue,
            };
        }
    }
    problems
}

fn run_test(test: &TestGroup, groups: &[Group], eval_interval: Duration) -> Vec<String> {
    let mut window = window();
    let mut problems = load_input(
        &mut window,
        test,
        test.interval.map_or(eval_interval, |d| d.0),
    );
    if !problems.is_empty() {
        return problems;
    }
    let mut runtimes: Vec<GroupRuntime> = groups
        .iter()
        .cloned()
        .map(|g| GroupRuntime::new(g, eval_interval))
        .collect();
    let step = (eval_interval.as_millis() as i64).max(1);
    let mut alert_tests: Vec<&AlertTest> = test.alert_rule_tests.iter().collect();
    alert_tests.sort_by_key(|t| t.eval_time);
    let maxt = alert_tests.last().map_or(0, |t| t.eval_time.millis());
    let settings = EvalSettings {
        external_labels: &test.external_labels,
        resend_delay: Duration::from_secs(60),
    };
    let mut next_test = 0;
    let mut ts = 0;
    while ts <= maxt {
        for runtime in &mut runtimes {
            let out = runtime.eval(&mut window, ts, &settings);
            for (rule, err) in out.failures {
                problems.push(format!(
                    "    rule: {rule}, time: {}, err: {err}",
                    PromDuration(Duration::from_millis(ts as u64))
                ));
            }
            write_alerts_series(&mut window, runtime, ts);
        }
        if !problems.is_empty() {
            return problems;
        }
        while next_test < alert_tests.len() && alert_tests[next_test].eval_time.millis() < ts + step
        {
            problems.extend(check_alerts(alert_tests[next_test], &runtimes));
            next_test += 1;
        }
        ts += step;
    }
    for expr_test in &test.promql_expr_test {
        problems.extend(check_expr(expr_test, &window));
    }
    problems
}

/// `ALERTS{alertname, alertstate, ...}` = 1 for every pending or firing alert, as
/// Prometheus writes it, so expression tests can query it.
fn write_alerts_series(window: &mut Window, runtime: &GroupRuntime, ts: i64) {
    let mut series = Vec::new();
    for (_, state) in runtime.alert_states() {
        for alert in state.active.values() {
            let name = match alert.state {
                State::Pending => "pending",
                State::Firing => "firing",
                State::Inactive => continue,
            };
            let mut labels = alert.labels.clone();
            labels.insert("__name__".into(), "ALERTS".into());
            labels.insert("alertstate".into(), name.into());
            series.push(labels);
        }
    }
    for labels in series {
        window.append(&labels, ts, 1.0);
    }
}

type Expected = (Labels, Labels);

fn check_alerts(test: &AlertTest, runtimes: &[GroupRuntime]) -> Vec<String> {
    let mut got: Vec<Expected> = Vec::new();
    for runtime in runtimes {
        for (rule, state) in runtime.alert_states() {
            if rule.name() != test.alertname
                || !matches!(
                    rule.kind,
                    sentinel_processors::alert_rules::rules::RuleKind::Alert { .. }
                )
            {
                continue;
            }
            got.extend(
                state
                    .active
                    .values()
                    .filter(|a| a.state == State::Firing)
                    .map(|a| (a.labels.clone(), a.annotations.clone())),
            );
        }
    }
    let mut expected: Vec<Expected> = test
        .exp_alerts
        .iter()
        .map(|a| {
            let mut labels = a.exp_labels.clone();
            labels.insert("alertname".into(), test.alertname.clone());
            (labels, a.exp_annotations.clone())
        })
        .collect();
    got.sort();
    expected.sort();
    if got == expected {
        return Vec::new();
    }
    let missing: Vec<&Expected> = expected.iter().filter(|e| !got.contains(e)).collect();
    let extra: Vec<&Expected> = got.iter().filter(|g| !expected.contains(g)).collect();
    let mut out = vec![format!(
        "    alertname: {}, time: {},",
        test.alertname, test.eval_time
    )];
    out.push(format!(
        "        exp: {}",
        alert_list(&expected.iter().collect::<Vec<_>>())
    ));
    out.push(format!(
        "        got: {}",
        alert_list(&got.iter().collect::<Vec<_>>())
    ));
    for (title, list) in [
        ("expected but not firing", &missing),
        ("firing but not expected", &extra),
    ] {
        for (labels, annotations) in list.iter() {
            out.push(format!(
                "        - {title}: labels {} annotations {}",
                braces(labels),
                braces(annotations)
            ));
        }
    }
    out
}

fn braces(map: &Labels) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

fn alert_list(list: &[&Expected]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|(l, a)| format!("Labels:{} Annotations:{}", braces(l), braces(a)))
        .collect();
    format!("[{}]", items.join(", "))
}

fn check_expr(test: &ExprTest, window: &Window) -> Vec<String> {
    let at = test.eval_time.millis();
    let head = format!("    expr: {:?}, time: {},", test.expr, test.eval_time);
    let query = match Query::parse(&test.expr) {
        Ok(q) => q,
        Err(err) => return vec![format!("{head} err: {}", err.message)],
    };
    let mut got = match window.query(&query, at) {
        Ok(got) => got,
        Err(err) => return vec![format!("{head} err: {err}")],
    };
    let mut expected = Vec::new();
    for sample in &test.exp_samples {
        match parse_series(&sample.labels) {
            Ok(labels) => expected.push((labels, sample.value)),
            Err(err) => return vec![format!("{head} labels {:?}: {err}", sample.labels)],
        }
    }
    let key = |s: &(Labels, f64)| s.0.clone();
    got.sort_by_key(key);
    expected.sort_by_key(key);
    let same = got.len() == expected.len()
        && got
            .iter()
            .zip(&expected)
            .all(|(g, e)| g.0 == e.0 && (g.1 == e.1 || (g.1.is_nan() && e.1.is_nan())));
    if same {
        return Vec::new();
    }
    let show = |list: &[(Labels, f64)]| {
        let items: Vec<String> = list
            .iter()
            .map(|(l, v)| {
                format!(
                    "{{Labels:{} Value:{}}}",
                    braces(l),
                    sentinel_processors::alert_rules::format::go_float(*v)
                )
            })
            .collect();
        format!("[{}]", items.join(" "))
    };
    vec![
        head,
        format!("        exp: {}", show(&expected)),
        format!("        got: {}", show(&got)),
    ]
}
