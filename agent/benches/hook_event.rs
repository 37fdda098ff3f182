//! One hook event through the receiver's pure path (`prepare_event`: parse, policy,
//! redaction, the 50 KB cap, the log record) at 100 KB, 1 MB and 10 MB. The time per byte
//! must stay flat as the event grows (issue 21: the old cap re-serialised the whole event
//! after each cut, 5.8 s of CPU for 1 MB). `cap/*` isolates the cut on an event of many
//! long strings, the shape that made the old cap quadratic.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentinel_agent::policy::Policy;
use sentinel_agent::receivers::hooks::{prepare_event, truncate, Redactor};
use serde_json::{json, Value};

/// A PostToolUse Bash event whose output is `bytes` long: log lines, a few secrets.
fn event(bytes: usize) -> Vec<u8> {
    let mut stdout = String::with_capacity(bytes + 200);
    let mut i = 0;
    while stdout.len() < bytes {
        if i % 500 == 0 {
            stdout.push_str(
                "export DB_PASSWORD='hunter2' token=sk-ant-api03-abcdefghijklmnopqrstuvwx\n",
            );
        } else {
            stdout.push_str(&format!(
                "{i:>8} INFO request served in 12 ms path=/api/v1/items\n"
            ));
        }
        i += 1;
    }
    serde_json::to_vec(&json!({
        "session_id": "bench",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "cargo test --workspace"},
        "tool_response": {"stdout": stdout, "stderr": ""},
    }))
    .expect("JSON")
}

/// Many long strings: each about 1 KB, `bytes` in all.
fn many_strings(bytes: usize) -> Value {
    let items: Vec<Value> = (0..bytes / 1024)
        .map(|i| json!(format!("{i:0>1024}")))
        .collect();
    json!({"hook_event_name": "PostToolUse", "tool_response": {"items": items}})
}

fn prepare(c: &mut Criterion) {
    let redactor = Redactor::new(&[]).expect("built-in patterns");
    let policy = Policy::builtin();
    let mut group = c.benchmark_group("prepare_event");
    group.sample_size(10);
    for size in [100_000, 1_000_000, 10_000_000] {
        let body = event(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| prepare_event(body, Some(&redactor), &policy, 50 * 1024).expect("event"))
        });
    }
    group.finish();
}

fn cap(c: &mut Criterion) {
    let mut group = c.benchmark_group("cap");
    group.sample_size(10);
    for size in [100_000, 1_000_000, 10_000_000] {
        let value = many_strings(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &value, |b, value| {
            b.iter_batched(
                || value.clone(),
                |mut v| truncate::cap(&mut v, 50 * 1024),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, prepare, cap);
criterion_main!(benches);
