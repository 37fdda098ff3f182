//! OTLP/gRPC load generator, shaped like the Collector testbed's: each request is one
//! resource and one scope holding `--spans-per-request` CLIENT spans named
//! `load-generator-span<N>`, 1 ms long, with `--attributes` int attributes and sequential
//! trace ids. Every span carries its global sequence number (attribute `load.seq` and the
//! low 64 bits of its trace id), so delivery can be checked span by span.
//!
//! `--protocol http` sends the same requests as OTLP/HTTP protobuf to `<endpoint>/v1/traces`.
//!
//! Prints one JSON summary line: spans sent and acknowledged, refusals, the achieved rate
//! and acknowledgement latency percentiles.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

#[derive(Debug, Parser, Clone)]
#[command(about = "Send OTLP/gRPC spans at a fixed rate or flat out")]
struct Args {
    /// gRPC endpoint of the agent.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    endpoint: String,
    /// Target spans per second; 0 sends flat out.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
    #[arg(long, default_value_t = 100)]
    spans_per_request: u64,
    /// Int attributes per span (the testbed uses 2).
    #[arg(long, default_value_t = 2)]
    attributes: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: u64,
    /// First sequence number (lets restarts continue a numbering).
    #[arg(long, default_value_t = 0)]
    start_seq: u64,
    /// Append `first_seq count` for every acknowledged request to this file.
    #[arg(long)]
    ack_log: Option<std::path::PathBuf>,
    /// Compress requests with gzip (gRPC only).
    #[arg(long)]
    gzip: bool,
    /// `grpc` or `http` (OTLP/HTTP protobuf, POST to `<endpoint>/v1/traces`).
    #[arg(long, default_value = "grpc")]
    protocol: String,
}

/// How one request ended.
enum Outcome {
    Acked,
    /// RESOURCE_EXHAUSTED / UNAVAILABLE, or HTTP 429 / 503: the client backs off and retries.
    Refused,
    Failed(String),
}

/// One worker's connection to the agent.
enum Sender {
    Grpc(TraceServiceClient<tonic::transport::Channel>),
    Http(Box<(HttpClient, hyper::Uri)>),
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

impl Sender {
    async fn send(&mut self, request: ExportTraceServiceRequest) -> Outcome {
        match self {
            Sender::Grpc(client) => match client.export(request).await {
                Ok(_) => Outcome::Acked,
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                    ) =>
                {
                    Outcome::Refused
                }
                Err(status) => Outcome::Failed(status.to_string()),
            },
            Sender::Http(http) => {
                let (client, uri) = &**http;
                use http_body_util::BodyExt;
                use prost::Message;
                let body = http_body_util::Full::new(bytes::Bytes::from(request.encode_to_vec()));
                let post = hyper::Request::post(uri.clone())
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .expect("a valid request");
                match client.request(post).await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.into_body().collect().await;
                        match status {
                            200..=299 => Outcome::Acked,
                            429 | 503 => Outcome::Refused,
                            other => Outcome::Failed(format!("HTTP {other}")),
                        }
                    }
                    Err(error) => Outcome::Failed(error.to_string()),
                }
            }
        }
    }
}

fn senders(args: &Args, channel: Option<tonic::transport::Channel>) -> anyhow::Result<Vec<Sender>> {
    let mut out = Vec::new();
    if args.protocol == "http" {
        let uri: hyper::Uri =
            format!("{}/v1/traces", args.endpoint.trim_end_matches('/')).parse()?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        for _ in 0..args.concurrency {
            out.push(Sender::Http(Box::new((client.clone(), uri.clone()))));
        }
        return Ok(out);
    }
    let channel = channel.ok_or_else(|| anyhow::anyhow!("no gRPC channel"))?;
    for _ in 0..args.concurrency {
        let mut client = TraceServiceClient::new(channel.clone());
        if args.gzip {
            client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        out.push(Sender::Grpc(client));
    }
    Ok(out)
}

#[derive(Default)]
struct Totals {
    sent_spans: AtomicU64,
    acked_spans: AtomicU64,
    refused_requests: AtomicU64,
    failed_requests: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let channel = match args.protocol.as_str() {
        "grpc" => Some(
            tonic::transport::Endpoint::from_shared(args.endpoint.clone())?
                .connect_timeout(Duration::from_secs(5))
                .connect()
                .await?,
        ),
        "http" => None,
        other => anyhow::bail!("--protocol must be grpc or http, not {other}"),
    };
    let ack_log = match &args.ack_log {
        Some(path) => Some(Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ))),
        None => None,
    };
    let totals = Arc::new(Totals::default());
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let next_seq = Arc::new(AtomicU64::new(args.start_seq));
    let started = Instant::now();
    let stop_at = started + Duration::from_secs_f64(args.duration);
    // Each worker paces itself to its share of the rate.
    let per_worker_interval = (args.rate > 0).then(|| {
        Duration::from_secs_f64(
            args.spans_per_request as f64 * args.concurrency as f64 / args.rate as f64,
        )
    });

    let mut workers = Vec::new();
    for mut client in senders(&args, channel)? {
        let (args, totals, latencies, next_seq, ack_log) = (
            args.clone(),
            totals.clone(),
            latencies.clone(),
            next_seq.clone(),
            ack_log.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut tick = per_worker_interval.map(|i| {
                let mut t = tokio::time::interval(i);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                t
            });
            while Instant::now() < stop_at {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let first = next_seq.fetch_add(args.spans_per_request, Ordering::Relaxed);
                let request = build_request(first, args.spans_per_request, args.attributes);
                totals
                    .sent_spans
                    .fetch_add(args.spans_per_request, Ordering::Relaxed);
                let sent_at = Instant::now();
                match client.send(request).await {
                    Outcome::Acked => {
                        let micros = sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        latencies.lock().unwrap().push(micros);
                        totals
                            .acked_spans
                            .fetch_add(args.spans_per_request, Ordering::Relaxed);
                        if let Some(log) = &ack_log {
                            let mut file = log.lock().unwrap();
                            let _ = writeln!(file, "{first} {}", args.spans_per_request);
                        }
                    }
                    Outcome::Refused => {
                        totals.refused_requests.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Outcome::Failed(why) => {
                        totals.failed_requests.fetch_add(1, Ordering::Relaxed);
                        eprintln!("export failed: {why}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let index = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[index] as f64 / 1000.0
    };
    let acked = totals.acked_spans.load(Ordering::Relaxed);
    println!(
        "{{\"sent_spans\":{},\"acked_spans\":{},\"refused_requests\":{},\"failed_requests\":{},\"elapsed_s\":{:.3},\"acked_spans_per_s\":{:.1},\"ack_latency_ms_p50\":{:.3},\"ack_latency_ms_p99\":{:.3},\"next_seq\":{}}}",
        totals.sent_spans.load(Ordering::Relaxed),
        acked,
        totals.refused_requests.load(Ordering::Relaxed),
        totals.failed_requests.load(Ordering::Relaxed),
        elapsed,
        acked as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        next_seq.load(Ordering::Relaxed),
    );
    Ok(())
}

fn build_request(first_seq: u64, count: u64, attributes: u64) -> ExportTraceServiceRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let spans = (first_seq..first_seq + count)
        .map(|seq| {
            let mut trace_id = [0u8; 16];
            trace_id[0] = 0x5e;
            trace_id[8..].copy_from_slice(&seq.to_be_bytes());
            let mut attrs = vec![int_attr("load.seq", seq as i64)];
            for i in 0..attributes.saturating_sub(1) {
                attrs.push(int_attr(&format!("load.attr{i}"), i as i64));
            }
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (seq + 1).to_be_bytes().to_vec(),
                name: format!("load-generator-span{seq}"),
                kind: span::SpanKind::Client as i32,
                start_time_unix_nano: now,
                end_time_unix_nano: now + 1_000_000,
                attributes: attrs,
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("loadgen".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "sentinel-loadgen".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}
