//! Consistent sampling across hosts: two agents with the same `probabilistic_sampler`
//! settings (25%, proportional) receive the same 20,000 traces and keep exactly the same
//! ones, each marked `ot=th:c`; what they sample out is counted as dropped.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_tests::{eventually, free_port, written_spans, Agent};

const TRACES: u64 = 20_000;
const PER_REQUEST: u64 = 1_000;

/// A fixed pseudo-random sequence (splitmix64): the same trace IDs on every run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn requests() -> Vec<ExportTraceServiceRequest> {
    let mut state = 235;
    (0..TRACES / PER_REQUEST)
        .map(|_| {
            let spans = (0..PER_REQUEST)
                .map(|_| {
                    let mut trace_id = next(&mut state).to_be_bytes().to_vec();
                    trace_id.extend(next(&mut state).to_be_bytes());
                    Span {
                        trace_id,
                        span_id: next(&mut state).to_be_bytes().to_vec(),
                        name: "sampled".to_string(),
                        start_time_unix_nano: 1,
                        end_time_unix_nano: 2,
                        ..Default::default()
                    }
                })
                .collect();
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        })
        .collect()
}

fn start_agent(dir: &Path, name: &str) -> (Agent, u16, std::path::PathBuf) {
    let (grpc, admin) = (free_port(), free_port());
    let out = dir.join(format!("{name}.jsonl"));
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n\
processors:\n  probabilistic_sampler:\n    sampling_percentage: 25\n    mode: proportional\n\
exporters:\n  file:\n    path: {}\n\
service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [probabilistic_sampler]\n      exporters: [file]\n",
        out.display()
    );
    (Agent::start(dir, name, &config, admin), grpc, out)
}

/// Trace ID and tracestate of every span the file exporter wrote.
fn kept(path: &Path) -> Vec<(String, String)> {
    written_spans(path)
        .iter()
        .map(|s| {
            let id = s["traceId"].as_str().unwrap_or_default().to_string();
            let state = s["traceState"].as_str().unwrap_or_default().to_string();
            (id, state)
        })
        .collect()
}

/// Sends the 20,000 spans over one connection, closed when the runtime is dropped (a
/// connection left open would hold up the agent's graceful shutdown).
fn send_all(grpc: u16) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .expect("connect");
        for request in requests() {
            client.export(request).await.expect("accepted");
        }
    });
}

#[test]
fn two_agents_with_the_same_settings_keep_the_same_traces() {
    let dir = tempfile::tempdir().unwrap();
    let mut sets = Vec::new();
    for name in ["host-a", "host-b"] {
        let (agent, grpc, out) = start_agent(dir.path(), name);
        send_all(grpc);
        let dropped = |agent: &Agent| {
            agent.metric_value(
                "sentinel_component_dropped_items_total",
                &["probabilistic_sampler"],
            )
        };
        let settled = eventually(Duration::from_secs(20), || {
            let written = kept(&out).len() as f64;
            written > 0.0 && dropped(&agent).is_some_and(|d| d + written == TRACES as f64)
        });
        assert!(
            settled,
            "{name}: kept and dropped do not add up; log:\n{}",
            agent.log()
        );
        let spans = kept(&out);
        assert!(spans.iter().all(|(_, state)| state == "ot=th:c"), "{name}");
        // 25% of 20,000 within 5 sigma (sigma = sqrt(20000 * 0.25 * 0.75) ≈ 61).
        let count = spans.len() as f64;
        assert!((count - 5_000.0).abs() <= 5.0 * 61.3, "{name} kept {count}");
        sets.push(spans.into_iter().map(|(id, _)| id).collect::<BTreeSet<_>>());
        assert!(agent.terminate(Duration::from_secs(15)).success());
    }
    assert_eq!(sets[0].len(), sets[1].len());
    assert!(sets[0] == sets[1], "the two agents kept different traces");
}
