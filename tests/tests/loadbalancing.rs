//! `loadbalancing` in the real agent: one gateway agent routes spans by trace id to real
//! Sentinel agents (otlp receiver → file exporter) found through DNS.
//!
//! The test runs its own DNS server on loopback (a few lines of RFC 1035 below) that
//! answers the backends' name with a set of 127.0.0.x addresses it can change, and points
//! `resolver.dns.nameserver` at it; every backend listens on the same port on its own
//! loopback address, as pods behind a headless Service do. Membership then changes the
//! way it does in production: a backend stops (its parts fail and wait in the gateway's
//! one queue), the name stops listing it and lists a new one, and the gateway re-routes.
//! Checked: every span arrives exactly once overall, and while membership is stable all
//! spans of a trace land on one backend, although each trace's spans come in separate
//! requests.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_tests::{eventually, free_port, written_spans, Agent};

const NAME: &str = "backends.sentinel.test";

/// A DNS server on 127.0.0.1 answering A questions for [`NAME`] with `addresses`.
struct TestDns {
    port: u16,
    addresses: Arc<Mutex<Vec<Ipv4Addr>>>,
}

impl TestDns {
    fn start(addresses: Vec<Ipv4Addr>) -> TestDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let addresses = Arc::new(Mutex::new(addresses));
        let shared = addresses.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while let Ok((len, from)) = socket.recv_from(&mut buffer) {
                if let Some(answer) = answer(&buffer[..len], &shared.lock().unwrap()) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        TestDns { port, addresses }
    }

    fn set(&self, addresses: Vec<Ipv4Addr>) {
        *self.addresses.lock().unwrap() = addresses;
    }
}

/// The response to one query: A records for [`NAME`], no records for other types, and
/// NXDOMAIN for other names.
fn answer(query: &[u8], addresses: &[Ipv4Addr]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_string());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = query.get(12..at + 4)?;
    let known = labels.join(".").eq_ignore_ascii_case(NAME);
    let records: &[Ipv4Addr] = if known && qtype == 1 { addresses } else { &[] };
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }, 0, 1]);
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for ip in records {
        out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

fn backend_config(dir: &Path, ip: Ipv4Addr, port: u16, admin: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {ip}:{port}
exporters:
  file:
    path: {out}
service:
  data_dir: {data}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
"#,
        out = dir.join(format!("{ip}.jsonl")).display(),
        data = dir.join(format!("data-{ip}")).display(),
    )
}

fn gateway_config(dir: &Path, grpc: u16, admin: u16, port: u16, dns: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        timeout: 2s
        tls:
          insecure: true
    resolver:
      dns:
        hostname: {NAME}
        port: {port}
        interval: 200ms
        timeout: 500ms
        nameserver: 127.0.0.1:{dns}
    sending_queue:
      type: disk
      num_consumers: 1
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 300ms
      max_elapsed_time: 120s
service:
  data_dir: {data}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
"#,
        data = dir.join("data-gateway").display(),
    )
}

fn start_backend(dir: &Path, ip: Ipv4Addr, port: u16) -> Agent {
    let admin = free_port();
    Agent::start(
        dir,
        &format!("backend-{ip}"),
        &backend_config(dir, ip, port, admin),
        admin,
    )
}

/// Round `round` of `traces` traces of phase `phase`: span `round` of every trace, in one
/// request. Span names are `p{phase}-t{trace}-r{round}`.
fn request(phase: u8, traces: u8, round: u8) -> ExportTraceServiceRequest {
    let spans = (0..traces)
        .map(|t| Span {
            trace_id: trace_id(phase, t),
            span_id: vec![phase, t, round, 1, 1, 1, 1, 1],
            name: format!("p{phase}-t{t}-r{round}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("lb-e2e".into())),
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

fn trace_id(phase: u8, trace: u8) -> Vec<u8> {
    let mut id = vec![0x5e; 16];
    id[0] = phase;
    id[1] = trace;
    id
}

const TRACES: u8 = 40;
const ROUNDS: u8 = 5;

/// Sends every round of a phase; every request must be acknowledged.
fn send_phase(runtime: &tokio::runtime::Runtime, grpc: u16, phase: u8) {
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .unwrap();
        for round in 0..ROUNDS {
            client
                .export(request(phase, TRACES, round))
                .await
                .unwrap_or_else(|e| panic!("phase {phase} round {round} refused: {e}"));
        }
    });
}

/// Span name → the backends (file names) that wrote it.
fn arrivals(dir: &Path, ips: &[Ipv4Addr]) -> BTreeMap<String, Vec<Ipv4Addr>> {
    let mut seen: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
    for ip in ips {
        for span in written_spans(&dir.join(format!("{ip}.jsonl"))) {
            let name = span["name"].as_str().unwrap_or_default().to_string();
            seen.entry(name).or_default().push(*ip);
        }
    }
    seen
}

fn phase_count(seen: &BTreeMap<String, Vec<Ipv4Addr>>, phase: u8) -> usize {
    let prefix = format!("p{phase}-");
    seen.keys().filter(|k| k.starts_with(&prefix)).count()
}

/// Every trace of the phase on exactly one backend; returns the backends used.
fn assert_affinity(seen: &BTreeMap<String, Vec<Ipv4Addr>>, phase: u8) -> BTreeSet<Ipv4Addr> {
    let mut used = BTreeSet::new();
    for t in 0..TRACES {
        let homes: BTreeSet<Ipv4Addr> = (0..ROUNDS)
            .flat_map(|r| seen[&format!("p{phase}-t{t}-r{r}")].clone())
            .collect();
        assert_eq!(
            homes.len(),
            1,
            "phase {phase} trace {t} split over {homes:?}"
        );
        used.extend(homes);
    }
    used
}

#[test]
fn traces_stay_whole_and_nothing_is_lost_or_doubled_when_backends_come_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let ip = |last: u8| Ipv4Addr::new(127, 0, 0, last);
    let all = [ip(2), ip(3), ip(4), ip(5)];
    let port = free_port();
    let dns = TestDns::start(vec![ip(2), ip(3), ip(4)]);
    let mut backends: BTreeMap<Ipv4Addr, Agent> = [ip(2), ip(3), ip(4)]
        .into_iter()
        .map(|a| (a, start_backend(dir, a, port)))
        .collect();
    let (grpc, admin) = (free_port(), free_port());
    let gateway = Agent::start(
        dir,
        "gateway",
        &gateway_config(dir, grpc, admin, port, dns.port),
        admin,
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let per_phase = TRACES as usize * ROUNDS as usize;

    // Phase 1, three stable backends: each trace on one backend, all three used.
    send_phase(&runtime, grpc, 1);
    assert!(eventually(Duration::from_secs(20), || phase_count(
        &arrivals(dir, &all),
        1
    ) == per_phase));
    let used = assert_affinity(&arrivals(dir, &all), 1);
    assert_eq!(used.len(), 3, "{used:?}");

    // Backend .4 stops. Phase 2 goes out: its traces for .4 fail and wait in the
    // gateway's queue (the others are delivered and not sent again).
    backends
        .remove(&ip(4))
        .unwrap()
        .terminate(Duration::from_secs(20));
    send_phase(&runtime, grpc, 2);
    let failed = |g: &Agent| {
        g.metric_value(
            "sentinel_loadbalancer_backend_outcome_total",
            &[
                &format!("endpoint=\"{}:{port}\"", ip(4)),
                "success=\"false\"",
            ],
        )
        .unwrap_or(0.0)
    };
    assert!(
        eventually(Duration::from_secs(20), || failed(&gateway) > 0.0),
        "{}",
        gateway.metrics()
    );
    assert!(phase_count(&arrivals(dir, &all), 2) < per_phase);

    // The name now lists .2, .3 and a new .5 instead of .4: the waiting parts go there.
    backends.insert(ip(5), start_backend(dir, ip(5), port));
    dns.set(vec![ip(2), ip(3), ip(5)]);
    assert!(
        eventually(Duration::from_secs(30), || phase_count(
            &arrivals(dir, &all),
            2
        ) == per_phase),
        "phase 2 incomplete; gateway log:\n{}",
        gateway.log()
    );

    // Phase 3, stable again on the new set.
    send_phase(&runtime, grpc, 3);
    assert!(eventually(Duration::from_secs(20), || phase_count(
        &arrivals(dir, &all),
        3
    ) == per_phase));
    let seen = arrivals(dir, &all);
    let used = assert_affinity(&seen, 3);
    assert!(used.contains(&ip(5)) && !used.contains(&ip(4)), "{used:?}");

    // Exactly once overall.
    assert_eq!(seen.len(), 3 * per_phase);
    let doubled: Vec<_> = seen.iter().filter(|(_, homes)| homes.len() != 1).collect();
    assert!(doubled.is_empty(), "delivered more than once: {doubled:?}");

    // Self-metrics: three backends now, and the membership changed (initial set, the
    // switch from .4 to .5).
    let metric = |name: &str| gateway.metric_value(name, &[]).unwrap_or(-1.0);
    assert_eq!(metric("sentinel_loadbalancer_backends{"), 3.0);
    assert!(metric("sentinel_loadbalancer_backend_updates_total") >= 2.0);
    let delivered: f64 = [ip(2), ip(3), ip(5)]
        .iter()
        .map(|a| {
            gateway
                .metric_value(
                    "sentinel_loadbalancer_backend_items_total",
                    &[&format!("endpoint=\"{a}:{port}\""), "success=\"true\""],
                )
                .unwrap_or(0.0)
        })
        .sum::<f64>()
        + gateway
            .metric_value(
                "sentinel_loadbalancer_backend_items_total",
                &[
                    &format!("endpoint=\"{}:{port}\"", ip(4)),
                    "success=\"true\"",
                ],
            )
            .unwrap_or(0.0);
    assert_eq!(delivered as usize, 3 * per_phase);
    gateway.terminate(Duration::from_secs(20));
}
