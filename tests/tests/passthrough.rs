//! Protobuf handed on as received: an agent whose pipeline has no processor that changes
//! data (`memory_limiter` only) and an `otlphttp` exporter sends the very bytes it was
//! sent, unknown fields included, while input prost would refuse is still refused.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use sentinel_tests::{free_port, http_request, read_http_request, Agent};

/// An OTLP/HTTP sink on loopback that answers 200 and reports every body it gets.
fn capture_sink() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (bodies, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let bodies = bodies.clone();
            std::thread::spawn(move || serve(stream, bodies));
        }
    });
    (port, received)
}

/// Serves the requests of one keep-alive connection.
fn serve(stream: TcpStream, bodies: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some((_, body)) = read_http_request(&mut reader) {
        let _ = bodies.send(body);
        let reply =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn request() -> ExportTraceServiceRequest {
    let spans = (0..5u64)
        .map(|i| Span {
            trace_id: vec![7; 16],
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: format!("GET /item/{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_100_000_000 + i,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("shop".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn config(http: u16, sink: u16, admin: u16) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http}\n\
processors:\n  memory_limiter:\n    limit_mib: 64\n\
exporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:{sink}\n    compression: none\n\
service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [memory_limiter]\n      exporters: [otlphttp]\n"
    )
}

fn post(port: u16, body: &[u8]) -> u16 {
    let headers = [("Content-Type", "application/x-protobuf")];
    http_request(port, "POST", "/v1/traces", &headers, body).0
}

#[test]
fn the_exporter_sends_the_bytes_it_received_and_bad_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, bodies) = capture_sink();
    let (http, admin) = (free_port(), free_port());
    let agent = Agent::start(dir.path(), "a", &config(http, sink, admin), admin);

    // A field this OTLP version does not know, as a newer SDK might send: decoding would
    // drop it, forwarding keeps it.
    let mut sent = request().encode_to_vec();
    // Appended at the top level: field 1000 of the request, which no OTLP version has.
    sent.extend_from_slice(&[0xc0, 0x3e, 0x2a]);
    assert!(
        ExportTraceServiceRequest::decode(sent.as_slice()).is_ok(),
        "an unknown field is still valid protobuf"
    );
    assert_eq!(post(http, &sent), 200);
    let got = bodies
        .recv_timeout(Duration::from_secs(20))
        .expect("the exporter sent the request on");
    assert_eq!(got, sent, "the very bytes received, unknown field included");

    // Not UTF-8 in a span name: prost refuses it, so the agent must answer 400.
    let mut bad = request().encode_to_vec();
    let at = bad
        .windows(4)
        .position(|w| w == b"GET ")
        .expect("a span name in the bytes");
    bad[at] = 0xff;
    assert!(ExportTraceServiceRequest::decode(bad.as_slice()).is_err());
    assert_eq!(post(http, &bad), 400);

    // A span with a 3-byte span_id is left out (partial success); the rest is sent.
    let mut short_id = request();
    short_id.resource_spans[0].scope_spans[0].spans[0].span_id = vec![1, 2, 3];
    assert_eq!(post(http, &short_id.encode_to_vec()), 200);
    let got = bodies
        .recv_timeout(Duration::from_secs(20))
        .expect("the valid spans were sent on");
    let forwarded = ExportTraceServiceRequest::decode(got.as_slice()).unwrap();
    assert_eq!(forwarded.resource_spans[0].scope_spans[0].spans.len(), 4);
    assert!(
        bodies.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing else was sent (the bad request was not forwarded)"
    );
    let received = agent.metric_value(
        "sentinel_component_received_items_total",
        &["component_id=\"memory_limiter\""],
    );
    assert_eq!(
        received,
        Some(9.0),
        "the limiter stage counts what passed it"
    );
}
