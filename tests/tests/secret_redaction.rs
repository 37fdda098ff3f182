//! Secrets never show, against the real binary: a distinct secret is planted in every
//! secret-bearing field of every component that has one (passwords, URL user info and
//! credential query parameters, headers, DSNs, webhook paths, routing keys, SASL and SMTP
//! passwords); none of them appears in `print-config`, in `validate`'s warnings, nor in the
//! agent's log of a run where every exporter fails and names its endpoint.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use sentinel_tests::{eventually, free_port, http_post_json, sentinel_bin, Agent};

/// Every planted secret, one per field.
const SECRETS: &[&str] = &[
    "S01-postgresql-password",
    "S02-pgbouncer-password",
    "S03-redis-password",
    "S04-httpcheck-userinfo",
    "S05-httpcheck-query",
    "S06-httpcheck-header",
    "S07-kafka-receiver-sasl",
    "S08-otlphttp-userinfo",
    "S09-otlphttp-query",
    "S10-otlphttp-header",
    "S11-otlp-userinfo",
    "S12-otlp-header",
    "S13-prw-userinfo",
    "S14-prw-query",
    "S15-prw-header",
    "S16-postgres-dsn",
    "S17-kafka-exporter-sasl",
    "S18-webhook-path",
    "S19-slack-path",
    "S20-pagerduty-routing-key",
    "S21-email-password",
    "S22-alertmanager-userinfo",
    "S23-alertmanager-header",
    "S24-loadbalancing-header",
];

/// The components with every secret in place. Nothing listens on port 9 (discard), so
/// every client fails.
fn config(http: u16, admin: u16, data_dir: &Path) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
  postgresql:
    endpoint: 127.0.0.1:9
    username: app
    password: S01-postgresql-password
    tls: {{insecure: true}}
  pgbouncer:
    endpoint: 127.0.0.1:9
    username: app
    password: S02-pgbouncer-password
    tls: {{insecure: true}}
  redis:
    endpoint: 127.0.0.1:9
    password: S03-redis-password
    tls: {{insecure: true}}
  httpcheck:
    targets:
      - endpoint: http://probe:S04-httpcheck-userinfo@127.0.0.1:9/health?token=S05-httpcheck-query
        headers: {{Authorization: Bearer S06-httpcheck-header}}
  kafka:
    brokers: [127.0.0.1:9]
    auth:
      sasl: {{username: u, password: S07-kafka-receiver-sasl, mechanism: PLAIN}}
exporters:
  otlphttp:
    endpoint: https://user:S08-otlphttp-userinfo@127.0.0.1:9/prefix?api_key=S09-otlphttp-query
    headers: {{Authorization: Bearer S10-otlphttp-header}}
  otlp:
    endpoint: http://user:S11-otlp-userinfo@127.0.0.1:9
    headers: {{x-api-key: S12-otlp-header}}
  prometheusremotewrite:
    endpoint: http://user:S13-prw-userinfo@127.0.0.1:9/api/v1/write?access_token=S14-prw-query
    headers: {{Authorization: Basic S15-prw-header}}
  postgres:
    dsn: postgresql://app:S16-postgres-dsn@127.0.0.1:9/telemetry
  kafka:
    brokers: [127.0.0.1:9]
    auth:
      sasl: {{username: u, password: S17-kafka-exporter-sasl, mechanism: PLAIN}}
  webhook:
    url: http://127.0.0.1:9/hooks/S18-webhook-path
  slack:
    api_url: http://127.0.0.1:9/services/T0/B0/S19-slack-path
  pagerduty:
    routing_key: S20-pagerduty-routing-key
    url: http://127.0.0.1:9/v2/enqueue
  email:
    to: ops@example.com
    from: sentinel@example.com
    smarthost: 127.0.0.1:9
    auth_username: sentinel
    auth_password: S21-email-password
  alertmanager:
    api_url: http://am:S22-alertmanager-userinfo@127.0.0.1:9/
    headers: {{Authorization: Bearer S23-alertmanager-header}}
  loadbalancing:
    protocol:
      otlp:
        headers: {{Authorization: Bearer S24-loadbalancing-header}}
    resolver:
      static:
        hostnames: [127.0.0.1:9]
service:
  data_dir: {data_dir}
  # Every sink is dead, so the drain runs to the deadline; the test is about the log,
  # and the default 10 s left the 15 s exit check no margin on a loaded machine.
  shutdown_timeout: 3s
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
    logs:
      level: debug
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp, otlp, kafka, loadbalancing, postgres]
    metrics:
      receivers: [otlp, postgresql, pgbouncer, redis, httpcheck, kafka]
      exporters: [prometheusremotewrite, otlphttp]
    logs:
      receivers: [otlp]
      exporters: [webhook, slack, pagerduty, email, alertmanager]
"#,
        data_dir = data_dir.display()
    )
}

fn leaked(text: &str) -> Vec<&'static str> {
    SECRETS
        .iter()
        .copied()
        .filter(|s| text.contains(s))
        .collect()
}

fn run(args: &[&str], file: &Path) -> Output {
    Command::new(sentinel_bin())
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn print_config_and_validate_show_no_planted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.yaml");
    std::fs::write(&file, config(free_port(), free_port(), dir.path())).unwrap();
    let printed = run(&["print-config", "--config"], &file);
    let stdout = String::from_utf8_lossy(&printed.stdout);
    let stderr = String::from_utf8_lossy(&printed.stderr);
    assert!(printed.status.success(), "{stderr}");
    assert_eq!(leaked(&stdout), Vec::<&str>::new(), "{stdout}");
    assert_eq!(leaked(&stderr), Vec::<&str>::new(), "{stderr}");
    // Each secret became a marker (a URL with user info and a parameter holds two).
    assert!(
        stdout.matches("[redacted]").count() >= 20,
        "every field is redacted: {stdout}"
    );
    assert!(
        stdout.contains("https://[redacted]@127.0.0.1:9/prefix?api_key=[redacted]"),
        "the endpoint stays readable: {stdout}"
    );
    let validated = run(&["validate", "--config"], &file);
    let report = String::from_utf8_lossy(&validated.stderr);
    assert!(validated.status.success(), "{report}");
    assert!(
        report.contains("warning"),
        "the plaintext warnings: {report}"
    );
    assert_eq!(leaked(&report), Vec::<&str>::new(), "{report}");
}

#[test]
fn the_log_of_a_run_with_failing_exporters_shows_no_planted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (http, admin) = (free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "secrets",
        &config(http, admin, dir.path()),
        admin,
    );
    let span = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b173","name":"x"}]}]}]}"#;
    let point = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asDouble":1}]}}]}]}]}"#;
    assert_eq!(http_post_json(http, "/v1/traces", span).0, 200);
    assert_eq!(http_post_json(http, "/v1/metrics", point).0, 200);
    // The exporters that name their endpoint in errors have failed at least once.
    let failed = |log: &str| {
        [
            "exporter=otlphttp",
            "exporter=otlp ",
            "exporter=prometheusremotewrite",
        ]
        .iter()
        .all(|e| {
            log.lines()
                .any(|l| l.contains("Export failed") && l.contains(e))
        })
    };
    let seen = eventually(Duration::from_secs(30), || failed(&agent.log()));
    let log = agent.log();
    assert!(seen, "exporters never failed:\n{log}");
    assert!(
        log.contains("http://[redacted]@127.0.0.1:9/api/v1/write?access_token=[redacted]"),
        "the failing endpoint is named, redacted:\n{log}"
    );
    agent.terminate(Duration::from_secs(15));
    let log = std::fs::read_to_string(dir.path().join("secrets.log")).unwrap();
    assert_eq!(leaked(&log), Vec::<&str>::new(), "{log}");
}
