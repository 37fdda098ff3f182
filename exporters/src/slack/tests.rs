use super::{colour, message};
use crate::notify::testing::{notification, AlertSpec};

#[test]
fn the_message_has_text_blocks_colour_and_remediation() {
    let n = notification(
        "slack",
        &[AlertSpec::firing(
            "DiskFull",
            &[("severity", "critical"), ("mount", "/")],
        )],
    );
    assert_eq!(colour(&n), "#E01E5A");
    let m = message(&n);
    assert!(m["text"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING:1] DiskFull"));
    let attachment = &m["attachments"][0];
    assert_eq!(attachment["color"], "#E01E5A");
    let blocks = attachment["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let section = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("*Remediation:*\n1. Look at the host."),
        "{section}"
    );
    assert!(section.contains("mount=/"));
}

#[test]
fn colours_follow_severity() {
    let warning = notification("s", &[AlertSpec::firing("A", &[("severity", "warning")])]);
    assert_eq!(colour(&warning), "#ECB22E");
    let info = notification("s", &[AlertSpec::firing("A", &[])]);
    assert_eq!(colour(&info), "#36C5F0");
}
