//! Notification exporters end to end: alert records over OTLP into the real agent, out to
//! local receivers that check the documented payloads field by field and answer 429, 5xx
//! and 400.

mod notify_support;

use std::time::Duration;

use notify_support::{agent_config, send_alerts, HttpReceiver, FAST_RETRY, FAST_ROUTE};
use sentinel_exporters::notify::testing::AlertSpec;
use sentinel_tests::{eventually, free_port, sentinel_bin, Agent};

const ROUTING_KEY: &str = "R0UT1NGKEY0123456789abcdef012345";

fn exporters(
    webhook: &HttpReceiver,
    slack: &HttpReceiver,
    pd: &HttpReceiver,
    bad: &HttpReceiver,
) -> String {
    format!(
        concat!(
            "  webhook:\n    url: {}\n    max_alerts: 10\n{route}{retry}",
            "  slack:\n    api_url: {}\n    channel: '#ops'\n{route}{retry}",
            "  pagerduty:\n    routing_key: {key}\n    url: {}\n    source: host-1\n{route}{retry}",
            "  pagerduty/bad:\n    routing_key: {key}\n    url: {}\n{route}{retry}",
        ),
        webhook.url("/hook"),
        slack.url("/services/T0/B0/SECRETTOKEN"),
        pd.url("/v2/enqueue"),
        bad.url("/v2/enqueue"),
        route = FAST_ROUTE,
        retry = FAST_RETRY,
        key = ROUTING_KEY,
    )
}

fn cpu(instance: &str) -> AlertSpec {
    AlertSpec::firing(
        "HighCpu",
        &[("instance", instance), ("severity", "critical")],
    )
}

#[test]
fn webhook_slack_and_pagerduty_deliver_the_documented_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = HttpReceiver::start(0, &[], 200);
    let slack = HttpReceiver::start(0, &[(429, Some(1))], 200);
    let pd = HttpReceiver::start(0, &[(503, None)], 202);
    let bad = HttpReceiver::start(0, &[], 400);
    let (otlp, admin) = (free_port(), free_port());
    let config = agent_config(
        dir.path(),
        otlp,
        admin,
        &exporters(&webhook, &slack, &pd, &bad),
        &["webhook", "slack", "pagerduty", "pagerduty/bad"],
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    send_alerts(otlp, &[cpu("a"), cpu("b"), cpu("a").with_state("pending")]);

    let delivered = eventually(Duration::from_secs(20), || {
        !webhook.accepted().is_empty() && !slack.accepted().is_empty() && !pd.accepted().is_empty()
    });
    assert!(delivered, "not delivered; log:\n{}", agent.log());

    // Webhook: Alertmanager's body, version 4.
    let body = &webhook.accepted()[0].body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "webhook");
    assert_eq!(body["groupKey"], "{}:{alertname=\"HighCpu\"}");
    assert_eq!(body["groupLabels"]["alertname"], "HighCpu");
    assert_eq!(body["commonLabels"]["severity"], "critical");
    assert_eq!(body["truncatedAlerts"], 0);
    assert_eq!(
        body["alerts"].as_array().unwrap().len(),
        2,
        "pending is not notified"
    );
    assert_eq!(webhook.path_count("/hook"), webhook.all().len());

    // Slack: 429 then the retry after Retry-After; text fallback, blocks, colour.
    let tries = slack.all();
    assert_eq!(tries[0].status, 429);
    assert!(tries.len() >= 2);
    assert!(
        tries[1].at - tries[0].at >= Duration::from_millis(900),
        "Retry-After: 1 honoured"
    );
    assert_eq!(tries[0].path, "/services/T0/B0/SECRETTOKEN");
    let message = &tries[1].body;
    assert_eq!(message["channel"], "#ops");
    assert!(message["text"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING:2] HighCpu"));
    assert_eq!(message["attachments"][0]["color"], "#E01E5A");
    let blocks = message["attachments"][0]["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[1]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("Remediation"));

    // PagerDuty: 503 retried, then the Events API v2 trigger.
    let tries = pd.all();
    assert_eq!(tries[0].status, 503);
    let event = &pd.accepted()[0].body;
    assert_eq!(event["routing_key"], ROUTING_KEY);
    assert_eq!(event["event_action"], "trigger");
    let dedup_key = event["dedup_key"].as_str().unwrap().to_string();
    assert_eq!(dedup_key.len(), 16);
    assert_eq!(event["payload"]["summary"], "[FIRING:2] HighCpu");
    assert_eq!(event["payload"]["source"], "host-1");
    assert_eq!(event["payload"]["severity"], "critical");
    assert_eq!(event["payload"]["custom_details"]["firing"], 2);

    // PagerDuty 400: one attempt, then the dead-letter file.
    let dead = dir
        .path()
        .join("dead-letter")
        .join("pagerduty_bad_outbox.jsonl");
    assert!(
        eventually(Duration::from_secs(10), || dead.exists()),
        "no dead letter; log:\n{}",
        agent.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(bad.all().len(), 1, "a 400 is not retried");

    // Resolution: webhook and PagerDuty (send_resolved true) notify, Slack (false) not.
    let slack_before = slack.accepted().len();
    send_alerts(otlp, &[cpu("a").resolved(), cpu("b").resolved()]);
    let resolved = eventually(Duration::from_secs(15), || {
        webhook
            .accepted()
            .iter()
            .any(|r| r.body["status"] == "resolved")
            && pd
                .accepted()
                .iter()
                .any(|r| r.body["event_action"] == "resolve")
    });
    assert!(resolved, "resolution not notified; log:\n{}", agent.log());
    let resolve = pd
        .accepted()
        .into_iter()
        .find(|r| r.body["event_action"] == "resolve")
        .unwrap();
    assert_eq!(
        resolve.body["dedup_key"],
        dedup_key.as_str(),
        "resolves the same incident"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        slack.accepted().len(),
        slack_before,
        "Slack's send_resolved is false"
    );
    let dropped = agent
        .metric_value(
            "sentinel_notifications_dropped_total",
            &["reason=\"pending\"", "component_id=\"webhook\""],
        )
        .unwrap_or(0.0);
    assert_eq!(dropped, 1.0, "the pending record is counted");
    agent.terminate(Duration::from_secs(15));
}

#[test]
fn print_config_redacts_notification_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = agent_config(
        dir.path(),
        free_port(),
        free_port(),
        &format!(
            "  slack:\n    api_url: https://hooks.example.com/services/T0/B0/SLACKTOKEN\n  pagerduty:\n    routing_key: {ROUTING_KEY}\n  email:\n    to: ops@example.com\n    from: sentinel@example.com\n    smarthost: 127.0.0.1:25\n    auth_username: sentinel\n    auth_password: SMTPPASSWORD\n  webhook:\n    url: https://hooks.example.com/WEBHOOKTOKEN\n  alertmanager:\n    api_url: http://user:AMPASSWORD@127.0.0.1:9093\n"
        ),
        &["slack", "pagerduty", "email", "webhook", "alertmanager"],
    );
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).unwrap();
    let output = std::process::Command::new(sentinel_bin())
        .args(["print-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in [
        "SLACKTOKEN",
        ROUTING_KEY,
        "SMTPPASSWORD",
        "WEBHOOKTOKEN",
        "AMPASSWORD",
    ] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(text.matches("[redacted]").count() >= 5, "{text}");
}
