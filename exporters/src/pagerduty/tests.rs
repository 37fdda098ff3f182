use super::PagerDuty;
use crate::notify::http::{http_url, JsonPoster};
use crate::notify::testing::{notification, AlertSpec};

fn pagerduty() -> PagerDuty {
    PagerDuty {
        url: http_url("http://127.0.0.1:9/v2/enqueue").unwrap(),
        poster: JsonPoster::new(&Default::default(), std::time::Duration::from_secs(1)).unwrap(),
        routing_key: "k".repeat(32),
        source: "host-1".into(),
        severity: None,
        client: "Sentinel".into(),
        client_url: String::new(),
    }
}

#[test]
fn trigger_events_carry_the_documented_fields() {
    let n = notification(
        "pagerduty",
        &[AlertSpec::firing("Down", &[("severity", "critical")])],
    );
    let event = pagerduty().event(&n);
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["dedup_key"], n.key_hash());
    assert!(event.get("routing_key").is_none(), "added only when sent");
    assert_eq!(event["payload"]["summary"], "[FIRING:1] Down");
    assert_eq!(event["payload"]["source"], "host-1");
    assert_eq!(event["payload"]["severity"], "critical");
    assert_eq!(event["payload"]["custom_details"]["firing"], 1);
    assert_eq!(event["client"], "Sentinel");
}

#[test]
fn resolve_events_need_only_the_key() {
    let spec = AlertSpec::firing("Down", &[]);
    let firing = notification("pagerduty", std::slice::from_ref(&spec));
    let mut all_resolved = firing.clone();
    for alert in &mut all_resolved.alerts {
        alert.status = crate::notify::alert::Status::Resolved;
    }
    let event = pagerduty().event(&all_resolved);
    assert_eq!(event["event_action"], "resolve");
    assert_eq!(
        event["dedup_key"],
        firing.key_hash(),
        "the same group, the same key"
    );
    assert!(event.get("payload").is_none());
}
