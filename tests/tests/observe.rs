//! `sentinel top --once`, `sentinel tap` and the status page against the real binary under
//! load: top's totals and the page's figures (read from the DOM Debian's headless
//! `chromium` rendered) lie between two `/metrics` readings taken around them; taps honour
//! their count and rate bounds, redact a planted secret and are refused when disabled.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sentinel_tests::services::require_binary;
use sentinel_tests::{
    eventually, free_port, http_post_json, http_request, loadgen_bin, sentinel_bin, workspace_root,
    Agent,
};

const SECRET: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789";

fn config(grpc: u16, http: u16, admin: u16, out: &std::path::Path, tap: &str) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      http:\n        endpoint: 127.0.0.1:{http}\n\
processors:\n  batch:\n    timeout: 100ms\n  attributes:\n    actions:\n      - key: tapped\n        value: \"yes\"\n        action: insert\n\
exporters:\n  file:\n    path: {out}\n  blackhole: {{}}\n\
service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n{tap}  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [attributes, batch]\n      exporters: [file]\n    traces/copy:\n      receivers: [otlp]\n      exporters: [blackhole]\n",
        out = out.display()
    )
}

const TAP_ON: &str =
    "      tap:\n        enabled: true\n        max_items_per_second: 50\n        max_items: 200\n";

fn load(grpc: u16, seconds: u32) -> Child {
    Command::new(loadgen_bin())
        .args(["--endpoint", &format!("http://127.0.0.1:{grpc}")])
        .args(["--rate", "2000", "--duration", &seconds.to_string()])
        .args(["--spans-per-request", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loadgen")
}

fn sentinel(args: &[&str]) -> Output {
    Command::new(sentinel_bin())
        .args(args)
        .output()
        .expect("run sentinel")
}

fn received(agent: &Agent, kind: &str, id: &str) -> f64 {
    agent
        .metric_value(
            "sentinel_component_received_items_total",
            &[
                &format!("component_kind=\"{kind}\""),
                &format!("component_id=\"{id}\""),
            ],
        )
        .unwrap_or(0.0)
}

/// Every component's received total, from `/metrics`.
fn received_all(agent: &Agent) -> Vec<((String, String), f64)> {
    [
        ("receiver", "otlp"),
        ("processor", "attributes"),
        ("processor", "batch"),
        ("exporter", "file"),
        ("exporter", "blackhole"),
    ]
    .iter()
    .map(|(k, i)| ((k.to_string(), i.to_string()), received(agent, k, i)))
    .collect()
}

fn assert_between(
    what: &str,
    value: f64,
    before: &[((String, String), f64)],
    after: &[((String, String), f64)],
    key: &(String, String),
) {
    let lookup = |list: &[((String, String), f64)]| list.iter().find(|(k, _)| k == key).unwrap().1;
    let (low, high) = (lookup(before), lookup(after));
    assert!(
        low <= value && value <= high,
        "{what} {key:?}: {value} not within /metrics readings {low}..={high}"
    );
}

#[test]
fn top_once_agrees_with_metrics_under_load_and_fails_clearly_when_down() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let yaml = config(grpc, http, admin, &dir.path().join("out.jsonl"), "");
    let agent = Agent::start(dir.path(), "agent", &yaml, admin);
    let mut loadgen = load(grpc, 12);
    assert!(
        eventually(Duration::from_secs(15), || received(
            &agent, "exporter", "file"
        ) > 0.0),
        "no data reached the file exporter; log:\n{}",
        agent.log()
    );

    let before = received_all(&agent);
    let admin_address = format!("127.0.0.1:{admin}");
    let top = sentinel(&[
        "top",
        "--once",
        "--admin",
        &admin_address,
        "--interval",
        "1s",
    ]);
    let after = received_all(&agent);
    let text = String::from_utf8_lossy(&top.stdout).to_string();
    assert!(
        top.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&top.stderr)
    );

    let mut rows = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 11 || !["receiver", "processor", "exporter"].contains(&fields[0]) {
            continue;
        }
        rows += 1;
        let key = (fields[0].to_string(), fields[1].to_string());
        let total: f64 = fields[5].parse().unwrap();
        assert_between("top's IN", total, &before, &after, &key);
        if fields[0] == "receiver" {
            let rate: f64 = fields[3].parse().unwrap();
            assert!(rate > 0.0, "the receiver takes data in under load: {line}");
        }
    }
    assert_eq!(rows, 5, "one row per component:\n{text}");
    assert!(text.contains("CPU ") && text.contains("RSS "), "{text}");
    assert!(text.contains("TOP SERVICES"), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("loadgen")),
        "the load generator's service is among the top services:\n{text}"
    );
    let exporter_row = text
        .lines()
        .find(|l| l.starts_with("file ") && l.contains("MiB"))
        .unwrap_or_else(|| panic!("an exporter row with its queue:\n{text}"));
    assert!(exporter_row.contains(" ok"), "{exporter_row}");

    let _ = loadgen.wait();
    drop(agent);
    let down = sentinel(&["top", "--once", "--admin", &admin_address]);
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert_eq!(down.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the agent's admin address"),
        "{stderr}"
    );
}

/// OTLP/JSON spans carrying a secret in an attribute and in an event name.
fn post_secret_spans(http: u16, n: usize) {
    let spans: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"{i:016x}","name":"call","attributes":[{{"key":"http.request.header.authorization","value":{{"stringValue":"Bearer {SECRET}"}}}}]}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"checkout"}}}}]}},"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    );
    assert_eq!(http_post_json(http, "/v1/traces", &body).0, 200);
}

fn span_count(lines: &str) -> usize {
    lines
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("an OTLP/JSON line");
            v["resourceSpans"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["scopeSpans"].as_array().unwrap())
                .map(|s| s["spans"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
        })
        .sum()
}

/// Posts secret-carrying spans every 20 ms until `stop` is set.
fn keep_posting(
    http: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            post_secret_spans(http, 10);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[test]
fn tap_samples_receivers_and_processors_bounded_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let yaml = config(grpc, http, admin, &dir.path().join("out.jsonl"), TAP_ON);
    let agent = Agent::start(dir.path(), "agent", &yaml, admin);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poster = keep_posting(http, stop.clone());
    let admin_address = format!("127.0.0.1:{admin}");

    // A receiver: exactly --limit items, the secret replaced.
    let tap = sentinel(&["tap", "otlp", "--admin", &admin_address, "--limit", "25"]);
    let out = String::from_utf8_lossy(&tap.stdout).to_string();
    assert!(
        tap.status.success(),
        "{}",
        String::from_utf8_lossy(&tap.stderr)
    );
    assert_eq!(span_count(&out), 25, "{out}");
    assert!(!out.contains(SECRET), "the secret leaked: {out}");
    assert!(out.contains("[REDACTED]"), "{out}");
    assert!(
        !out.contains("tapped"),
        "a receiver's output is before the processors"
    );

    // A processor: its stage output carries what it added.
    let tap = sentinel(&[
        "tap",
        "attributes",
        "--admin",
        &admin_address,
        "--limit",
        "10",
    ]);
    let out = String::from_utf8_lossy(&tap.stdout).to_string();
    assert!(
        tap.status.success(),
        "{}",
        String::from_utf8_lossy(&tap.stderr)
    );
    assert_eq!(span_count(&out), 10, "{out}");
    assert!(out.contains("\"tapped\""), "{out}");
    assert!(!out.contains(SECRET), "the secret leaked: {out}");

    // A connector-like fan-out: one output pipeline of the receiver.
    let tap = sentinel(&[
        "tap",
        "otlp",
        "--admin",
        &admin_address,
        "--output",
        "traces/copy",
        "--limit",
        "5",
    ]);
    assert!(
        tap.status.success(),
        "{}",
        String::from_utf8_lossy(&tap.stderr)
    );
    assert_eq!(span_count(&String::from_utf8_lossy(&tap.stdout)), 5);

    // Rate: 30 items at 10 per second need at least three one-second windows.
    let started = Instant::now();
    let tap = sentinel(&[
        "tap",
        "otlp",
        "--admin",
        &admin_address,
        "--limit",
        "30",
        "--rate",
        "10",
    ]);
    assert!(tap.status.success());
    assert_eq!(span_count(&String::from_utf8_lossy(&tap.stdout)), 30);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The server caps what a client asks for: 50 items/s over at most two windows here.
    let (status, body) = http_request(
        admin,
        "GET",
        "/api/v1/tap?component=otlp&rate=100000&limit=100000&wait=1.5",
        &[],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let n = span_count(&body);
    assert!(n > 0 && n <= 100, "max_items_per_second caps the rate: {n}");

    let (status, body) = http_request(admin, "GET", "/api/v1/tap?component=nope", &[], b"");
    assert_eq!(status, 404);
    assert!(
        body.contains("otlp") && body.contains("attributes"),
        "{body}"
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poster.join().unwrap();
    let status = agent.terminate(Duration::from_secs(15));
    assert!(status.success());
}

#[test]
fn tap_is_refused_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let yaml = config(grpc, http, admin, &dir.path().join("out.jsonl"), "");
    let _agent = Agent::start(dir.path(), "agent", &yaml, admin);
    let (status, body) = http_request(admin, "GET", "/api/v1/tap?component=otlp", &[], b"");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("service.telemetry.metrics.tap.enabled"),
        "{body}"
    );
    let tap = sentinel(&["tap", "otlp", "--admin", &format!("127.0.0.1:{admin}")]);
    let stderr = String::from_utf8_lossy(&tap.stderr);
    assert_eq!(tap.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tap is disabled"), "{stderr}");
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn chromium(args: &[&str], url: &str) -> Output {
    // As root, Chromium refuses to start without --no-sandbox.
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
        ])
        .args(args)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("run chromium")
}

/// The text of the cell with `class` in the row whose `data-component` is `key`.
fn cell(dom: &str, key: &str, class: &str) -> Option<f64> {
    let row_start = dom.find(&format!("data-component=\"{key}\""))?;
    let row = &dom[row_start..row_start + dom[row_start..].find("</tr>")?];
    let at = row.find(&format!("class=\"{class}"))?;
    let text = &row[at + row[at..].find('>')? + 1..];
    text[..text.find('<')?].trim().parse().ok()
}

#[test]
fn status_page_renders_live_figures_in_headless_chromium() {
    require_binary("chromium");
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let yaml = config(grpc, http, admin, &dir.path().join("out.jsonl"), "");
    let agent = Agent::start(dir.path(), "agent", &yaml, admin);
    let mut loadgen = load(grpc, 15);
    assert!(eventually(Duration::from_secs(15), || received(
        &agent, "exporter", "file"
    ) > 0.0));
    post_secret_spans(http, 1);

    let url = format!("http://127.0.0.1:{admin}/");
    let before = received_all(&agent);
    let dump = chromium(&["--dump-dom"], &url);
    let after = received_all(&agent);
    let dom = String::from_utf8_lossy(&dump.stdout).to_string();
    assert!(dump.status.success(), "chromium failed");
    for (key, _) in &before {
        let id = format!("{}/{}/traces", key.0, key.1);
        let value = cell(&dom, &id, "received")
            .unwrap_or_else(|| panic!("no rendered row for {id}:\n{dom}"));
        assert_between("the page's in", value, &before, &after, key);
    }
    assert!(dom.contains("data-service=\"loadgen\""), "{dom}");
    assert!(dom.contains("data-exporter=\"file\""), "{dom}");
    assert!(dom.contains("exporters:"), "the effective config is shown");
    assert!(
        dom.contains("<div id=\"error\"></div>"),
        "every poll succeeded: {dom}"
    );

    let screenshot = artifacts_dir().join("status-page.png");
    let shot = chromium(
        &[
            "--window-size=1400,1600",
            &format!("--screenshot={}", screenshot.display()),
        ],
        &url,
    );
    assert!(shot.status.success());
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );
    let _ = loadgen.wait();
}
