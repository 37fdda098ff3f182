//! Hostile data never poisons the pipeline: NUL bytes, invalid UTF-8 in bytes values and
//! bodies, huge attributes and absurd timestamps are stored (escaped, replaced, cut and
//! flagged, clamped and counted); a batch PostgreSQL refuses for good goes to the
//! dead-letter file with the database's error while later data flows.

mod postgres_support;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use postgres_support::{count, json_rows, wait_for_count, Pg, PgAgent};
use sentinel_tests::eventually;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv(
            "service.name",
            any_value::Value::StringValue("hostile\0svc".into()),
        )],
        ..Default::default()
    })
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn span(name: &str, id: u8, start: u64, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![id; 16],
        span_id: vec![id; 8],
        name: name.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add(1_000),
        attributes,
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn send_traces(grpc: u16, request: ExportTraceServiceRequest) {
    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    client.export(request).await.expect("accepted");
}

#[test]
fn nul_invalid_utf8_huge_values_and_wild_timestamps_are_stored_safely() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let mut setup = PgAgent::new(dir.path(), &pg);
    setup.extra = "    max_value_bytes: 1024\n".into();
    let agent = setup.start(dir.path(), "agent");
    let now = now_nanos();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        send_traces(
            setup.grpc,
            traces(vec![
                span(
                    "nul\0name",
                    1,
                    now,
                    vec![
                        kv("k\0ey", any_value::Value::StringValue("v\0al".into())),
                        kv(
                            "raw",
                            any_value::Value::BytesValue(vec![0xff, 0xfe, 0x00, b'a']),
                        ),
                        kv("huge", any_value::Value::StringValue("x".repeat(200_000))),
                        kv("nan", any_value::Value::DoubleValue(f64::NAN)),
                    ],
                ),
                span("epoch-zero", 2, 0, vec![]),
                span("far-future", 3, u64::MAX - 10, vec![]),
                span("normal", 4, now, vec![]),
            ]),
        )
        .await;
        let mut logs = LogsServiceClient::connect(format!("http://127.0.0.1:{}", setup.grpc))
            .await
            .unwrap();
        logs.export(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: now,
                        body: Some(AnyValue {
                            value: Some(any_value::Value::BytesValue(vec![
                                b'o', b'k', 0xc3, 0x28, 0x00,
                            ])),
                        }),
                        severity_text: "WARN\0".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
        .await
        .expect("accepted");
    });

    let stored = wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.spans",
        4,
        Duration::from_secs(30),
    );
    assert_eq!(stored, 4, "{}", agent.log());
    let row = &json_rows(
        &pg,
        "SELECT * FROM sentinel.spans WHERE span_id = '\\x0101010101010101'",
    )[0];
    assert_eq!(row["span_name"], "nul\\u0000name");
    assert_eq!(row["service_name"], "hostile\\u0000svc");
    let attributes = &row["attributes"];
    assert_eq!(attributes["k\\u0000ey"], "v\\u0000al");
    assert_eq!(attributes["raw"], "fffe0061", "bytes are stored as hex");
    assert_eq!(
        attributes["huge"].as_str().unwrap().len(),
        1024,
        "cut to max_value_bytes"
    );
    assert_eq!(attributes["sentinel.truncated"], true);
    assert_eq!(attributes["nan"], "NaN");

    let oldest = pg.psql("postgres", "SELECT min(ts) = (SELECT ts FROM sentinel.spans WHERE span_name = 'epoch-zero') FROM sentinel.spans");
    assert_eq!(oldest, "t", "epoch zero lands in the oldest partition");
    let future_in_range = pg.psql(
        "postgres",
        "SELECT ts < now() + interval '10 days' FROM sentinel.spans WHERE span_name = 'far-future'",
    );
    assert_eq!(future_in_range, "t");
    assert!(
        eventually(Duration::from_secs(5), || {
            agent.metric_value("sentinel_postgres_timestamps_clamped_total", &[]) == Some(2.0)
        }),
        "{}",
        agent.metrics()
    );
    assert_eq!(
        agent.metric_value("sentinel_postgres_rows_truncated_total", &[]),
        Some(1.0)
    );

    wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.logs",
        1,
        Duration::from_secs(20),
    );
    let log = &json_rows(&pg, "SELECT * FROM sentinel.otel_logs")[0];
    assert_eq!(
        log["body"], "ok\u{fffd}(\\u0000",
        "invalid UTF-8 replaced, NUL escaped"
    );
    assert_eq!(log["severity_text"], "WARN\\u0000");
    assert_eq!(
        agent.metric_value("sentinel_queue_dead_lettered_total", &[]),
        Some(0.0)
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

#[test]
fn a_batch_postgres_refuses_for_good_is_dead_lettered_with_the_error_and_later_data_flows() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = PgAgent::new(dir.path(), &pg);
    let agent = setup.start(dir.path(), "agent");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(send_traces(
        setup.grpc,
        traces(vec![span("warm-up", 9, now_nanos(), vec![])]),
    ));
    wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.spans",
        1,
        Duration::from_secs(30),
    );
    // A rule the data breaks: PostgreSQL answers 23514 for the poison span only.
    pg.psql(
        "postgres",
        "ALTER TABLE sentinel.spans ADD CONSTRAINT no_poison CHECK (span_name <> 'poison')",
    );
    rt.block_on(async {
        send_traces(
            setup.grpc,
            traces(vec![span("poison", 5, now_nanos(), vec![])]),
        )
        .await;
        send_traces(
            setup.grpc,
            traces(vec![span("after", 6, now_nanos(), vec![])]),
        )
        .await;
    });
    wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.spans WHERE span_name = 'after'",
        1,
        Duration::from_secs(30),
    );
    let dead_letters = setup.queue_dir.join("dead-letter.jsonl");
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read_to_string(
            &dead_letters
        )
        .is_ok_and(|t| t.contains("no_poison") && t.contains("poison"))),
        "dead letter missing: {:?}\n{}",
        std::fs::read_to_string(&dead_letters),
        agent.log()
    );
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM sentinel.spans WHERE span_name = 'poison'"
        ),
        0
    );
    assert_eq!(
        agent.metric_value("sentinel_queue_dead_lettered_total", &[]),
        Some(1.0)
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
