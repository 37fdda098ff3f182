//! Disk queue append throughput: requests handed to `consume()` until every client is
//! acknowledged, under each fsync policy. The sink accepts everything at once, so the
//! queue also reads, delivers, confirms and deletes while appending.
//!
//! `cargo bench -p sentinel-exporters --bench disk_queue`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_exporters::sending::{start_queue, QueueContext};
use sentinel_pipeline::sending::{FsyncPolicy, QueueKind};
use sentinel_pipeline::{
    ack_pair, Acks, BuiltExporter, ExportError, Exporter, Message, Payload, QueueSettings,
    RetrySettings, SelfMetrics, Signal,
};

/// Counts what it is given and accepts it.
#[derive(Default)]
struct Blackhole {
    items: AtomicU64,
}

#[async_trait]
impl Exporter for Blackhole {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        self.items
            .fetch_add(payload.item_count() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// About 1 KiB encoded: ten log records of ~90 bytes.
fn request(n: usize) -> Payload {
    let records = (0..10)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!(
                    "request {n} record {i}: GET /api/v1/items?page=3 200 12ms user=alice"
                ))),
            }),
            ..Default::default()
        })
        .collect();
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

const REQUESTS: usize = 1_000;

fn append_throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let payloads: Vec<Payload> = (0..REQUESTS).map(request).collect();
    let bytes: usize = payloads.iter().map(Payload::encoded_len).sum();
    let mut group = c.benchmark_group("disk_queue_append");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, fsync) in [
        ("never", FsyncPolicy::Never),
        (
            "interval_10ms",
            FsyncPolicy::Interval(Duration::from_millis(10)),
        ),
        ("always", FsyncPolicy::Always),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let sink = Arc::new(Blackhole::default());
        let (consumer, handle) = runtime.block_on(async {
            let ctx = QueueContext {
                id: format!("bench/{name}"),
                metrics: SelfMetrics::new(),
                data_dir: dir.path().to_path_buf(),
            };
            let built = BuiltExporter {
                exporter: sink.clone(),
                queue: QueueSettings {
                    kind: QueueKind::Disk,
                    max_size: Some(1 << 30),
                    fsync,
                    ..QueueSettings::default()
                },
                retry: RetrySettings::default(),
            };
            start_queue(ctx, built, &[Signal::Logs]).expect("queue starts")
        });
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut waiters = Vec::with_capacity(REQUESTS);
                    for payload in &payloads {
                        loop {
                            let (token, waiter) = ack_pair();
                            let msg = Message::new(payload.clone(), Acks::one(token));
                            if consumer.consume(msg).is_ok() {
                                waiters.push(waiter);
                                break;
                            }
                            // The writer is behind: let it catch up, as a client would.
                            tokio::time::sleep(Duration::from_micros(200)).await;
                        }
                    }
                    for waiter in waiters {
                        waiter.wait().await.expect("acknowledged");
                    }
                })
            })
        });
        runtime.block_on(handle.drain(tokio::time::Instant::now() + Duration::from_secs(30)));
        assert!(
            sink.items.load(Ordering::Relaxed) > 0,
            "the sink received data"
        );
    }
    group.finish();
}

criterion_group!(benches, append_throughput);
criterion_main!(benches);
