use super::body;
use crate::notify::testing::{notification, AlertSpec};

#[test]
fn the_body_is_alertmanagers_version_4() {
    let n = notification(
        "webhook/ops",
        &[
            AlertSpec::firing("HighCpu", &[("instance", "a"), ("severity", "warning")]),
            AlertSpec::firing("HighCpu", &[("instance", "b"), ("severity", "warning")]),
            AlertSpec::firing("HighCpu", &[("instance", "c"), ("severity", "warning")]),
        ],
    );
    let body = body(&n, 2, "http://sentinel");
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "webhook/ops");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["groupKey"], "{}:{alertname=\"HighCpu\"}");
    assert_eq!(body["groupLabels"]["alertname"], "HighCpu");
    assert_eq!(body["commonLabels"]["severity"], "warning");
    assert!(body["commonLabels"].get("instance").is_none());
    assert_eq!(body["commonAnnotations"]["summary"], "HighCpu is firing");
    assert_eq!(body["externalURL"], "http://sentinel");
    assert_eq!(body["truncatedAlerts"], 1, "max_alerts 2 of 3");
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    for key in [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ] {
        assert!(alerts[0].get(key).is_some(), "alert field {key}");
    }
}
