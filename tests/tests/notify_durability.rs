//! Notifications are durable and silences hold: kill -9 with a notification queued
//! (receiver down) delivers it once after restart; a receiver outage delivers everything
//! afterwards, grouped; silences from `sentinel alerts silence` mute, survive a restart
//! and let the next notification through once expired.

mod notify_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use notify_support::{agent_config, send_alerts, HttpReceiver, FAST_RETRY, FAST_ROUTE};
use sentinel_exporters::notify::testing::AlertSpec;
use sentinel_tests::{eventually, free_port, sentinel_bin, Agent};

fn webhook_config(dir: &Path, otlp: u16, admin: u16, receiver: u16) -> String {
    let exporters = format!(
        "  webhook:\n    url: http://127.0.0.1:{receiver}/hook\n    timeout: 1s\n{FAST_ROUTE}    sending_queue:\n      type: disk\n      fsync:\n        interval: 10ms\n{FAST_RETRY}"
    );
    agent_config(dir, otlp, admin, &exporters, &["webhook"])
}

/// Notifications the outbox queue took in.
fn outbox_received(agent: &Agent) -> f64 {
    agent
        .metric_value(
            "sentinel_component_received_items_total",
            &["component_id=\"webhook/outbox\""],
        )
        .unwrap_or(0.0)
}

#[test]
fn a_queued_notification_survives_kill_9_and_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let (otlp, admin, receiver_port) = (free_port(), free_port(), free_port());
    let config = webhook_config(dir.path(), otlp, admin, receiver_port);
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let alert = AlertSpec::firing("ReplicaLag", &[("instance", "db-2")]);
    send_alerts(otlp, std::slice::from_ref(&alert));
    // The receiver is down: the notification waits in the disk outbox.
    let queued = eventually(Duration::from_secs(15), || outbox_received(&agent) > 0.0);
    assert!(queued, "nothing queued; log:\n{}", agent.log());
    std::thread::sleep(Duration::from_millis(200));
    agent.kill9();

    let receiver = HttpReceiver::start(receiver_port, &[], 200);
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let delivered = eventually(Duration::from_secs(20), || !receiver.accepted().is_empty());
    assert!(
        delivered,
        "not delivered after restart; log:\n{}",
        agent.log()
    );
    // The connector keeps re-sending the firing alert: that is no new notification.
    for _ in 0..3 {
        send_alerts(otlp, std::slice::from_ref(&alert));
        std::thread::sleep(Duration::from_secs(2));
    }
    let all = receiver.all();
    assert_eq!(all.len(), 1, "exactly once: {all:?}");
    assert_eq!(all[0].body["groupKey"], "{}:{alertname=\"ReplicaLag\"}");
    assert_eq!(all[0].body["alerts"][0]["labels"]["instance"], "db-2");
    agent.terminate(Duration::from_secs(15));
}

/// The 10-minute outage, compressed: `SENTINEL_NOTIFY_OUTAGE_SECS` (default 20;
/// tests/bench/notify_outage.sh runs 600).
#[test]
fn a_receiver_outage_delivers_everything_afterwards_grouped() {
    let outage: u64 = std::env::var("SENTINEL_NOTIFY_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let (otlp, admin, receiver_port) = (free_port(), free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &webhook_config(dir.path(), otlp, admin, receiver_port),
        admin,
    );
    let start = Instant::now();
    // Alerts arrive during the outage; the connector re-sends firing ones every few seconds,
    // each re-send with a fresh endsAt (ValidUntil).
    let mut firing = vec![("HighCpu", "a")];
    let mut step = 0;
    while start.elapsed() < Duration::from_secs(outage) {
        if step == 2 {
            firing.push(("HighCpu", "b"));
        }
        if step == 4 {
            firing.push(("DiskFull", "a"));
        }
        let specs: Vec<AlertSpec> = firing
            .iter()
            .map(|(name, instance)| AlertSpec::firing(name, &[("instance", instance)]))
            .collect();
        send_alerts(otlp, &specs);
        step += 1;
        std::thread::sleep(Duration::from_secs(3));
    }
    let receiver = HttpReceiver::start(receiver_port, &[], 200);
    let up = Instant::now();
    let complete = eventually(Duration::from_secs(30), || {
        let bodies = receiver.accepted();
        let last_cpu = bodies
            .iter()
            .rev()
            .find(|r| r.body["groupLabels"]["alertname"] == "HighCpu");
        let has_disk = bodies
            .iter()
            .any(|r| r.body["groupLabels"]["alertname"] == "DiskFull");
        has_disk && last_cpu.is_some_and(|r| r.body["alerts"].as_array().map_or(0, Vec::len) == 2)
    });
    let complete_after = up.elapsed();
    assert!(complete, "got {:?}; log:\n{}", receiver.all(), agent.log());
    // Delivered in the order they were made: nothing older arrives after the full group.
    std::thread::sleep(Duration::from_secs(3));
    let bodies = receiver.accepted();
    let last_cpu = bodies
        .iter()
        .rev()
        .find(|r| r.body["groupLabels"]["alertname"] == "HighCpu")
        .unwrap();
    assert_eq!(
        last_cpu.body["alerts"].as_array().unwrap().len(),
        2,
        "in order: {bodies:?}"
    );
    let notifications = bodies.len();
    println!(
        "outage {outage}s: {notifications} notifications for 3 alerts in 2 groups, the complete set delivered {:.1}s after the receiver came back",
        complete_after.as_secs_f64()
    );
    assert!(
        notifications <= 4,
        "grouped, not one per re-send: {notifications}"
    );
    agent.terminate(Duration::from_secs(15));
}

fn cli(admin: u16, args: &[&str]) -> String {
    let output = Command::new(sentinel_bin())
        .args(["alerts", "silence"])
        .args(&args[..1])
        .args(["--admin", &format!("127.0.0.1:{admin}")])
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sentinel alerts silence {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn silences_mute_survive_a_restart_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (otlp, admin) = (free_port(), free_port());
    let receiver = HttpReceiver::start(0, &[], 200);
    let exporters = format!(
        "  webhook:\n    url: {}\n{FAST_ROUTE}{FAST_RETRY}",
        receiver.url("/hook")
    );
    let config = agent_config(dir.path(), otlp, admin, &exporters, &["webhook"]);
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let id = cli(
        admin,
        &[
            "add",
            "--comment",
            "maintenance",
            "--duration",
            "1h",
            "alertname=Noisy",
            "instance=~\"db-.*\"",
        ],
    );
    let id = id.trim().to_string();
    assert_eq!(id.len(), 32, "{id}");

    let noisy = AlertSpec::firing("Noisy", &[("instance", "db-1")]);
    let other = AlertSpec::firing("Other", &[("instance", "db-1")]);
    send_alerts(otlp, &[noisy.clone(), other]);
    assert!(eventually(Duration::from_secs(10), || !receiver
        .accepted()
        .is_empty()));
    std::thread::sleep(Duration::from_secs(4));
    let names = |r: &HttpReceiver| -> Vec<String> {
        r.accepted()
            .iter()
            .map(|x| {
                x.body["groupLabels"]["alertname"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(&receiver), vec!["Other"], "Noisy is silenced");
    let listing = cli(admin, &["list"]);
    assert!(
        listing.contains(&id) && listing.contains("active") && listing.contains("maintenance"),
        "{listing}"
    );

    // The silence is on disk (0600) and back after a restart.
    agent.terminate(Duration::from_secs(15));
    let file = dir.path().join("silences.json");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    assert!(cli(admin, &["list"]).contains(&id));
    send_alerts(otlp, std::slice::from_ref(&noisy));
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !names(&receiver).contains(&"Noisy".to_string()),
        "still silenced after restart"
    );

    // Expired: the connector's next re-send gets through at the next group interval.
    cli(admin, &["expire", &id]);
    assert!(
        !cli(admin, &["list"]).contains(&id),
        "expired ones are listed with --expired only"
    );
    assert!(cli(admin, &["list", "--expired"]).contains("expired"));
    send_alerts(otlp, std::slice::from_ref(&noisy));
    let through = eventually(Duration::from_secs(10), || {
        names(&receiver).contains(&"Noisy".to_string())
    });
    assert!(through, "not notified after expiry; log:\n{}", agent.log());
    agent.terminate(Duration::from_secs(15));
}
