//! Grouping, the notification log, silences and the rate limit.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::alert::{decode, Alert, Labels, Status};
use super::group::{GroupSettings, Grouper, Notification};
use super::settings::{RateLimit, RouteConfig};
use super::testing::{alerts_request, AlertSpec};
use super::Limiter;
use sentinel_pipeline::Payload;

/// Decoded alerts; firing ones stay valid for a day, as if the connector kept re-sending.
fn alerts(specs: &[AlertSpec]) -> Vec<Alert> {
    let specs: Vec<AlertSpec> = specs
        .iter()
        .cloned()
        .map(|mut s| {
            if s.state == "firing" {
                s.ends_at += Duration::from_secs(86_400);
            }
            s
        })
        .collect();
    decode(&Payload::Logs(alerts_request(&specs))).0
}

fn settings(group_by: &[&str], send_resolved: bool) -> GroupSettings {
    GroupSettings {
        route: RouteConfig {
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(3600),
        },
        send_resolved,
    }
}

fn none(_: &Labels) -> bool {
    false
}

struct Clock {
    start: Instant,
    wall: SystemTime,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            start: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn at(&self, secs: u64) -> (Instant, SystemTime) {
        let d = Duration::from_secs(secs);
        (self.start + d, self.wall + d)
    }
}

fn flush(grouper: &mut Grouper, clock: &Clock, secs: u64) -> Vec<Notification> {
    let (now, wall) = clock.at(secs);
    let due = grouper.due(now, wall, &none);
    for n in &due {
        grouper.confirm(n, wall);
    }
    due
}

#[test]
fn decode_follows_the_contract_and_skips_pending() {
    let specs = [
        AlertSpec::firing("HighCpu", &[("instance", "a")]),
        AlertSpec::firing("HighCpu", &[("instance", "b")]).with_state("pending"),
        AlertSpec::firing("HighCpu", &[("instance", "c")]).resolved(),
    ];
    let (decoded, skipped) = decode(&Payload::Logs(alerts_request(&specs)));
    assert_eq!(skipped.pending, 1);
    assert_eq!(decoded.len(), 2);
    assert_eq!(decoded[0].labels["alertname"], "HighCpu");
    assert_eq!(decoded[0].status, Status::Firing);
    assert_eq!(decoded[1].status, Status::Resolved);
    assert_eq!(decoded[0].annotations["summary"], "HighCpu is firing");
    assert_eq!(decoded[0].fingerprint.len(), 16);
}

#[test]
fn group_wait_then_group_interval_then_repeat() {
    let clock = Clock::new();
    let mut grouper = Grouper::new("webhook", settings(&["alertname"], true), None);
    for a in alerts(&[
        AlertSpec::firing("HighCpu", &[("instance", "a")]),
        AlertSpec::firing("HighCpu", &[("instance", "b")]),
        AlertSpec::firing("DiskFull", &[("instance", "a")]),
    ]) {
        grouper.insert(a, clock.at(0).0).unwrap();
    }
    assert!(
        flush(&mut grouper, &clock, 29).is_empty(),
        "group_wait not over"
    );
    let first = flush(&mut grouper, &clock, 30);
    assert_eq!(first.len(), 2, "one notification per alertname");
    let cpu = first
        .iter()
        .find(|n| n.group_labels["alertname"] == "HighCpu")
        .unwrap();
    assert_eq!(cpu.alerts.len(), 2);
    assert_eq!(cpu.group_key, "{}:{alertname=\"HighCpu\"}");
    assert_eq!(cpu.common_labels().get("instance"), None);
    // Re-sends of the same alerts change nothing: no notification at the next interval.
    for a in alerts(&[AlertSpec::firing("HighCpu", &[("instance", "a")])]) {
        grouper.insert(a, clock.at(60).0).unwrap();
    }
    assert!(flush(&mut grouper, &clock, 330).is_empty());
    // A new alert in the group is notified at the next group_interval, not before.
    for a in alerts(&[AlertSpec::firing("HighCpu", &[("instance", "c")])]) {
        grouper.insert(a, clock.at(340).0).unwrap();
    }
    assert!(flush(&mut grouper, &clock, 400).is_empty());
    let changed = flush(&mut grouper, &clock, 630);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].alerts.len(), 3);
    // Unchanged for repeat_interval (1h): sent again.
    let mut repeats = 0;
    for tick in 1..=13 {
        repeats += flush(&mut grouper, &clock, 630 + tick * 300).len();
    }
    assert_eq!(repeats, 2, "both groups repeat once within 65 minutes");
}

#[test]
fn resolved_before_group_wait_is_not_notified() {
    let clock = Clock::new();
    let mut grouper = Grouper::new("webhook", settings(&[], true), None);
    let spec = AlertSpec::firing("Flap", &[]);
    grouper
        .insert(alerts(std::slice::from_ref(&spec)).remove(0), clock.at(0).0)
        .unwrap();
    grouper
        .insert(alerts(&[spec.resolved()]).remove(0), clock.at(5).0)
        .unwrap();
    assert!(flush(&mut grouper, &clock, 30).is_empty());
    assert_eq!(grouper.group_count(), 0, "the resolved alert is forgotten");
}

#[test]
fn send_resolved_decides_whether_resolution_is_sent() {
    for send_resolved in [true, false] {
        let clock = Clock::new();
        let mut grouper = Grouper::new("r", settings(&[], send_resolved), None);
        let spec = AlertSpec::firing("Down", &[("instance", "x")]);
        grouper
            .insert(alerts(std::slice::from_ref(&spec)).remove(0), clock.at(0).0)
            .unwrap();
        assert_eq!(flush(&mut grouper, &clock, 30).len(), 1);
        grouper
            .insert(alerts(&[spec.resolved()]).remove(0), clock.at(40).0)
            .unwrap();
        let resolved = flush(&mut grouper, &clock, 330);
        assert_eq!(resolved.len(), 1, "the log notes the resolution either way");
        assert_eq!(resolved[0].status(), Status::Resolved);
        let expected = if send_resolved { 1 } else { 0 };
        assert_eq!(
            resolved[0].alerts.len(),
            expected,
            "send_resolved={send_resolved}"
        );
        assert!(flush(&mut grouper, &clock, 630).is_empty());
    }
}

#[test]
fn a_firing_alert_past_its_ends_at_resolves() {
    let clock = Clock::new();
    let mut grouper = Grouper::new("r", settings(&[], true), None);
    let stale = decode(&Payload::Logs(alerts_request(&[AlertSpec::firing(
        "Gone",
        &[],
    )])))
    .0;
    grouper.insert(stale[0].clone(), clock.at(0).0).unwrap();
    assert_eq!(flush(&mut grouper, &clock, 30).len(), 1);
    // No re-send for 5 minutes: endsAt (4m) passed, so the group resolves.
    let resolved = flush(&mut grouper, &clock, 330);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].status(), Status::Resolved);
}

#[test]
fn group_by_everything_makes_one_group_per_alert() {
    let clock = Clock::new();
    let mut grouper = Grouper::new("r", settings(&["..."], true), None);
    for a in alerts(&[
        AlertSpec::firing("A", &[("i", "1")]),
        AlertSpec::firing("A", &[("i", "2")]),
    ]) {
        grouper.insert(a, clock.at(0).0).unwrap();
    }
    assert_eq!(flush(&mut grouper, &clock, 30).len(), 2);
}

#[test]
fn silenced_alerts_wait_for_the_silence_to_end() {
    let clock = Clock::new();
    let mut grouper = Grouper::new("r", settings(&[], true), None);
    grouper
        .insert(
            alerts(&[AlertSpec::firing("Noisy", &[])]).remove(0),
            clock.at(0).0,
        )
        .unwrap();
    let (now, wall) = clock.at(30);
    assert!(grouper
        .due(now, wall, &|l: &Labels| l["alertname"] == "Noisy")
        .is_empty());
    // Re-sent while the silence is gone: the next interval notifies.
    grouper
        .insert(
            alerts(&[AlertSpec::firing("Noisy", &[])]).remove(0),
            clock.at(60).0,
        )
        .unwrap();
    assert_eq!(flush(&mut grouper, &clock, 330).len(), 1);
}

#[test]
fn the_notification_log_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.json");
    let clock = Clock::new();
    let spec = AlertSpec::firing("Down", &[]);
    let mut grouper = Grouper::new("r", settings(&[], true), Some(path.clone()));
    grouper
        .insert(alerts(std::slice::from_ref(&spec)).remove(0), clock.at(0).0)
        .unwrap();
    assert_eq!(flush(&mut grouper, &clock, 30).len(), 1);
    // A restarted agent rebuilds the group from the connector's re-sends...
    let mut restarted = Grouper::new("r", settings(&[], true), Some(path));
    restarted
        .insert(alerts(&[spec]).remove(0), clock.at(60).0)
        .unwrap();
    // ...and does not notify the unchanged group again.
    assert!(flush(&mut restarted, &clock, 90).is_empty());
}

#[test]
fn the_rate_limit_allows_n_per_window() {
    let mut limiter = Limiter::new(RateLimit {
        notifications: 2,
        window: Duration::from_secs(60),
    });
    let t0 = Instant::now();
    assert!(limiter.allow(t0));
    assert!(limiter.allow(t0 + Duration::from_secs(1)));
    assert!(!limiter.allow(t0 + Duration::from_secs(2)));
    assert!(limiter.allow(t0 + Duration::from_secs(61)));
}
