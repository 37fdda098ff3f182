//! What an export attempt costs before the bytes reach the socket, for a batch of 16
//! queue records of 100 spans each (the load generator's shape): the old path (copy every
//! record, merge, encode the merged request) against the shared path (encode the records
//! the queue holds back to back, no copy, no merge) against records a receiver forwarded
//! still encoded (copied as they are).
//!
//! `cargo bench -p sentinel-exporters --bench export_path`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::{Encoded, Held, Payload, SharedBatch, SharedRecord, Signal};

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn request(first: u64) -> Payload {
    let spans = (first..first + 100)
        .map(|seq| Span {
            trace_id: [seq.to_be_bytes(), seq.to_be_bytes()].concat(),
            span_id: seq.to_be_bytes().to_vec(),
            name: format!("load-generator-span{seq}"),
            kind: 3,
            start_time_unix_nano: 1,
            end_time_unix_nano: 1_000_001,
            attributes: vec![int("load.seq", seq as i64), int("load.attr0", 0)],
            ..Default::default()
        })
        .collect();
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn batch(encoded: bool) -> SharedBatch {
    let held = |payload: Payload| match encoded {
        true => Held::Encoded(Encoded::new(
            Signal::Traces,
            payload.encode_to_vec().into(),
            payload.item_count(),
        )),
        false => Held::Decoded(payload),
    };
    SharedBatch {
        queue_id: 1,
        records: (0..16)
            .map(|i| SharedRecord {
                seq: i,
                data: Arc::new(held(request(i * 100))),
            })
            .collect(),
    }
}

fn write_merged(batch: &SharedBatch) -> Vec<u8> {
    let mut buf = Vec::with_capacity(batch.encoded_len());
    batch.encode_merged(&mut buf);
    buf
}

fn export_path(c: &mut Criterion) {
    let (batch, forwarded) = (batch(false), batch(true));
    let mut group = c.benchmark_group("export_attempt_16x100_spans");
    group.throughput(Throughput::Elements(1600));
    group.bench_function("copy_merge_encode", |b| {
        b.iter(|| batch.to_record_batch().into_payload().encode_to_vec())
    });
    group.bench_function("shared_encode", |b| b.iter(|| write_merged(&batch)));
    group.bench_function("forwarded_encoded", |b| b.iter(|| write_merged(&forwarded)));
    group.finish();
}

criterion_group!(benches, export_path);
criterion_main!(benches);
