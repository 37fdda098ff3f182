use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn traces(name: &str, padding: usize) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: format!("{name}{}", "x".repeat(padding)),
                    trace_id: vec![
                        0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33,
                        0x81, 0x3f, 0xc6, 0x0c,
                    ],
                    span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74],
                    kind: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn exporter(path: &Path, max_megabytes: u64, max_backups: usize) -> FileExporter {
    FileExporter::new(FileConfig {
        path: path.to_path_buf(),
        rotation: RotationConfig {
            max_megabytes,
            max_backups,
        },
        sending_queue: Default::default(),
        retry_on_failure: Default::default(),
    })
}

#[tokio::test]
async fn lines_are_otlp_json_and_parse_back_to_the_same_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/out.jsonl");
    let exporter = exporter(&path, 10, 2);
    let sent = traces("span", 0);
    exporter.export(sent.clone()).await.unwrap();
    exporter
        .export(Payload::Logs(ExportLogsServiceRequest::default()))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("\"resourceSpans\""), "{}", lines[0]);
    assert!(
        lines[0].contains("\"traceId\":\"5b8efff798038103d269b633813fc60c\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("\"spanId\":\"eee19b7ec3c1b174\""),
        "{}",
        lines[0]
    );
    let back: ExportTraceServiceRequest = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(Payload::Traces(back), sent);
}

#[tokio::test]
async fn rotation_keeps_at_most_max_backups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let exporter = exporter(&path, 1, 2);
    // Each line is a bit over 400 KiB: two fit in 1 MiB, the third rotates.
    for i in 0..7 {
        exporter
            .export(traces(&format!("s{i}-"), 400 * 1024))
            .await
            .unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["out.jsonl", "out.jsonl.1", "out.jsonl.2"]);
    let current = std::fs::read_to_string(&path).unwrap();
    assert!(
        current.contains("s6-"),
        "the newest data is in the current file"
    );
    let newest_backup = std::fs::read_to_string(dir.path().join("out.jsonl.1")).unwrap();
    assert!(newest_backup.contains("s4-") && newest_backup.contains("s5-"));
    assert!(
        !current.contains("s0-") && !newest_backup.contains("s0-"),
        "s0 rotated out"
    );
}

#[tokio::test]
async fn an_unwritable_path_is_a_retryable_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "file").unwrap();
    let exporter = exporter(&blocker.join("out.jsonl"), 1, 1);
    match exporter.export(traces("s", 0)).await {
        Err(ExportError::Retryable { message, .. }) => {
            assert!(message.contains("not-a-dir"), "{message}")
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
}
