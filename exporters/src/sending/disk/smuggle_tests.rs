//! The issue-21 scenario: a record smuggled inside a client's payload, revealed when the
//! record around it is damaged, must not be resurrected (it carried sequence 2^64 − 2,
//! and the writer's numbers then wrapped and lost acknowledged requests).

use std::fs;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::sending::FsyncPolicy;
use sentinel_pipeline::{ExportError, Payload, Signal};

use super::record::{encode_record, RecordHeader, SEGMENT_MAGIC};
use super::segment::list_segments;
use crate::sending::inspect;
use crate::sending::test_support::*;

const WAIT: Duration = Duration::from_secs(10);

/// A log request whose one record's body is `bytes`.
fn bytes_body(bytes: Vec<u8>) -> Payload {
    let record = LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::BytesValue(bytes)),
        }),
        ..Default::default()
    };
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

async fn accept_then_crash(dir: &Path, payloads: Vec<Payload>) -> usize {
    let sink = TestSink::failing(ExportError::retryable("sink down"));
    let settings = disk_settings(&dir.join("queue"), 1 << 20, FsyncPolicy::Always);
    let harness = start(dir, &sink, settings, fast_retry());
    let mut acked = 0;
    for payload in payloads {
        if harness.send_acked(payload).await {
            acked += 1;
        }
    }
    drop(harness);
    acked
}

#[tokio::test]
async fn a_smuggled_record_is_not_resurrected_and_acknowledged_requests_survive() {
    let root = tempfile::tempdir().unwrap();
    let inner_payload = logs("smuggled", 1).encode_to_vec();
    let mut inner = Vec::new();
    let header = RecordHeader {
        seq: u64::MAX - 1,
        appended_ms: 1,
        items: 1,
        signal: Signal::Logs,
        payload_len: inner_payload.len() as u32,
    };
    encode_record(&mut inner, &header, &inner_payload);
    let mut outer_body = vec![b'x'; 64];
    outer_body.extend_from_slice(&inner);
    outer_body.extend_from_slice(&[b'y'; 64]);
    assert_eq!(
        accept_then_crash(root.path(), vec![bytes_body(outer_body)]).await,
        1
    );

    // Damage the outer record's payload ahead of the inner record.
    let queue = root.path().join("queue");
    let (_, segment) = list_segments(&queue).unwrap().remove(0);
    let mut bytes = fs::read(&segment).unwrap();
    let filler = bytes.windows(8).position(|w| w == b"xxxxxxxx").unwrap();
    assert!(filler > SEGMENT_MAGIC.len());
    bytes[filler] ^= 0xff;
    fs::write(&segment, &bytes).unwrap();
    let report = inspect(&queue).unwrap();
    assert_eq!(report.unconfirmed_records, 0, "{report}");
    assert_eq!(report.corrupt_records, 1, "{report}");

    let acked = names("acked-", 3);
    let payloads = acked.iter().map(|name| logs(name, 1)).collect();
    assert_eq!(accept_then_crash(root.path(), payloads).await, 3);

    let sink = TestSink::accepting();
    let settings = disk_settings(&queue, 1 << 20, FsyncPolicy::Always);
    let harness = start(root.path(), &sink, settings, fast_retry());
    wait_until("redelivered", WAIT, || sink.delivered().len() >= 3).await;
    harness.drain_within(WAIT).await;
    let mut delivered = sink.delivered();
    delivered.sort();
    assert_eq!(
        delivered, acked,
        "every acknowledged request, nothing smuggled"
    );
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}
