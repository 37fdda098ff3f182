//! Fault tests for durable delivery, with real processes and real SIGKILL: whatever agent A
//! acknowledged must reach agent B's file, across crashes, outages and a full disk budget.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sentinel_tests::{eventually, free_port, loadgen_bin, read_json_lines, Agent};

/// Ports and paths of the A → B chain.
struct Chain {
    dir: PathBuf,
    a_grpc: u16,
    a_admin: u16,
    b_grpc: u16,
    b_admin: u16,
    b_out: PathBuf,
    queue_dir: PathBuf,
}

impl Chain {
    fn new(dir: &Path) -> Chain {
        Chain {
            dir: dir.to_path_buf(),
            a_grpc: free_port(),
            a_admin: free_port(),
            b_grpc: free_port(),
            b_admin: free_port(),
            b_out: dir.join("b.jsonl"),
            queue_dir: dir.join("queue"),
        }
    }

    fn b_config(&self) -> String {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{}\nexporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            self.b_grpc,
            self.b_out.display(),
            self.b_admin
        )
    }

    /// A: otlp receiver → otlp exporter with a disk queue (group commit every 10 ms).
    fn a_config(&self, max_size: u64) -> String {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{a_grpc}\nexporters:\n  otlp:\n    endpoint: 127.0.0.1:{b_grpc}\n    tls:\n      insecure: true\n    timeout: 2s\n    sending_queue:\n      type: disk\n      directory: {queue}\n      max_size: {max_size}\n      fsync:\n        interval: 10ms\n    retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 500ms\nservice:\n  shutdown_timeout: 5s\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{a_admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n",
            a_grpc = self.a_grpc,
            b_grpc = self.b_grpc,
            queue = self.queue_dir.display(),
            a_admin = self.a_admin,
        )
    }

    fn start_a(&self, max_size: u64) -> Agent {
        Agent::start(&self.dir, "a", &self.a_config(max_size), self.a_admin)
    }

    fn start_b(&self) -> Agent {
        Agent::start(&self.dir, "b", &self.b_config(), self.b_admin)
    }

    /// Starts the load generator against A in the background.
    fn loadgen(&self, rate: u64, seconds: f64, start_seq: u64, ack_log: &Path) -> Child {
        Command::new(loadgen_bin())
            .args([
                "--endpoint",
                &format!("http://127.0.0.1:{}", self.a_grpc),
                "--rate",
                &rate.to_string(),
                "--duration",
                &seconds.to_string(),
                "--spans-per-request",
                "10",
                "--start-seq",
                &start_seq.to_string(),
                "--ack-log",
            ])
            .arg(ack_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start loadgen")
    }

    /// How many times B's file holds each sequence number.
    fn delivered(&self) -> HashMap<u64, u32> {
        let mut seen = HashMap::new();
        for line in read_json_lines(&self.b_out) {
            for rs in line["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for span in ss["spans"].as_array().into_iter().flatten() {
                        let seq = span["attributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|kv| kv["key"] == "load.seq")
                            .and_then(|kv| {
                                let v = &kv["value"]["intValue"];
                                v.as_str()
                                    .and_then(|s| s.parse().ok())
                                    .or_else(|| v.as_u64())
                            })
                            .expect("every load span carries load.seq");
                        *seen.entry(seq).or_insert(0) += 1;
                    }
                }
            }
        }
        seen
    }
}

/// Sequence numbers the load generator saw acknowledged.
fn acknowledged(ack_log: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(ack_log).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((
                parts.next()?.parse::<u64>().ok()?,
                parts.next()?.parse::<u64>().ok()?,
            ))
        })
        .flat_map(|(first, count)| first..first + count)
        .collect()
}

fn loadgen_summary(child: Child) -> serde_json::Value {
    let output = child.wait_with_output().expect("loadgen finishes");
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap_or_default()
}

fn assert_all_delivered(chain: &Chain, acked: &[u64], within: Duration) -> HashMap<u64, u32> {
    let complete = eventually(within, || {
        let delivered = chain.delivered();
        acked.iter().all(|s| delivered.contains_key(s))
    });
    let delivered = chain.delivered();
    let missing: Vec<&u64> = acked
        .iter()
        .filter(|s| !delivered.contains_key(s))
        .collect();
    assert!(
        complete,
        "{} of {} acknowledged spans never reached B, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    delivered
}

/// Streams 2,000 spans/s into A for 14 s while killing A with SIGKILL four times at
/// pseudo-random moments; returns the last A and the sequence numbers acknowledged.
fn kill_a_four_times_under_load(chain: &Chain, ack_log: &Path) -> (Agent, Vec<u64>) {
    let mut a = chain.start_a(256 * 1024 * 1024);
    // The client streams for the whole test; A is killed and restarted under it.
    let client = chain.loadgen(2_000, 14.0, 0, ack_log);
    let mut rng_state = 0x9e3779b97f4a7c15u64;
    for _ in 0..4 {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let pause = Duration::from_millis(700 + rng_state % 1600);
        std::thread::sleep(pause);
        a.kill9();
        a = chain.start_a(256 * 1024 * 1024);
    }
    let summary = loadgen_summary(client);
    let acked = acknowledged(ack_log);
    assert!(
        acked.len() > 5_000,
        "the client got acks between kills: {summary}"
    );
    (a, acked)
}

#[test]
fn kill_9_mid_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(dir.path());
    let _b = chain.start_b();
    let ack_log = dir.path().join("acks.txt");
    let (a, acked) = kill_a_four_times_under_load(&chain, &ack_log);
    let delivered = assert_all_delivered(&chain, &acked, Duration::from_secs(30));
    let duplicates: u32 = delivered.values().map(|n| n - 1).sum();
    eprintln!(
        "kill -9 x4: {} spans acknowledged, {} distinct delivered, {} duplicates",
        acked.len(),
        delivered.len(),
        duplicates
    );
    assert!(a.terminate(Duration::from_secs(15)).success());
}

/// The same crashes with `dedup` in front of B's file exporter: A's replays after each
/// SIGKILL reach B again, and B drops them, so the file holds every acknowledged span
/// exactly once. B runs throughout, so its seen-set (kept in memory) spans A's restarts.
#[test]
fn kill_9_mid_stream_with_dedup_delivers_every_acknowledged_span_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(dir.path());
    let b_config = chain
        .b_config()
        .replace("service:\n", "processors:\n  dedup: {}\nservice:\n")
        .replace(
            "      exporters: [file]\n",
            "      processors: [dedup]\n      exporters: [file]\n",
        );
    let b = Agent::start(&chain.dir, "b", &b_config, chain.b_admin);
    let ack_log = dir.path().join("acks.txt");
    let (a, acked) = kill_a_four_times_under_load(&chain, &ack_log);
    assert_all_delivered(&chain, &acked, Duration::from_secs(30));
    // A drains its queue, then B flushes its file: every replay has had its chance.
    assert!(a.terminate(Duration::from_secs(15)).success());
    let dropped = b
        .metric_value(
            "sentinel_component_dropped_items_total",
            &["component_id=\"dedup\""],
        )
        .unwrap_or(0.0);
    assert!(b.terminate(Duration::from_secs(15)).success());
    let delivered = chain.delivered();
    let missing = acked.iter().filter(|s| !delivered.contains_key(s)).count();
    let duplicates: u32 = delivered.values().map(|n| n - 1).sum();
    eprintln!(
        "kill -9 x4 with dedup: {} spans acknowledged, {} distinct delivered, {duplicates} \
         duplicates, {dropped} dropped by dedup",
        acked.len(),
        delivered.len(),
    );
    assert_eq!(missing, 0, "acknowledged spans missing from B's file");
    assert_eq!(duplicates, 0, "duplicates in B's file");
}

#[test]
fn sink_outage_of_60s_then_everything_arrives_and_the_queue_drains() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(dir.path());
    let a = chain.start_a(256 * 1024 * 1024);
    let ack_log = dir.path().join("acks.txt");
    let started = Instant::now();
    let client = chain.loadgen(1_000, 65.0, 0, &ack_log);
    // B is down for the first 60 s of the stream.
    std::thread::sleep(Duration::from_secs(60).saturating_sub(started.elapsed()));
    let b = chain.start_b();
    let summary = loadgen_summary(client);
    let acked = acknowledged(&ack_log);
    assert!(
        acked.len() > 30_000,
        "A kept acknowledging during the outage: {summary}"
    );
    assert_all_delivered(&chain, &acked, Duration::from_secs(60));
    assert!(
        eventually(Duration::from_secs(20), || {
            a.metric_value("sentinel_component_queue_size", &["component_id=\"otlp\""]) == Some(0.0)
        }),
        "queue did not drain to zero:\n{}",
        a.metrics()
    );
    assert!(a.terminate(Duration::from_secs(15)).success());
    assert!(b.terminate(Duration::from_secs(15)).success());
}

#[test]
fn a_full_disk_budget_refuses_retryably_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(dir.path());
    // About 64 KiB of queue: a few hundred spans.
    let a = chain.start_a(64 * 1024);
    let ack_log = dir.path().join("acks.txt");
    let summary = loadgen_summary(chain.loadgen(2_000, 4.0, 0, &ack_log));
    let refused = summary["refused_requests"].as_u64().unwrap_or(0);
    assert!(
        refused > 0,
        "a full queue must refuse with a retryable status: {summary}"
    );
    assert_eq!(
        summary["failed_requests"], 0,
        "refusals are retryable, not errors: {summary}"
    );
    let b = chain.start_b();
    let summary = loadgen_summary(chain.loadgen(500, 3.0, 1_000_000, &ack_log));
    assert!(
        summary["acked_spans"].as_u64().unwrap_or(0) > 0,
        "clients succeed once B is back: {summary}"
    );
    let acked = acknowledged(&ack_log);
    assert_all_delivered(&chain, &acked, Duration::from_secs(30));
    assert!(a.terminate(Duration::from_secs(15)).success());
    assert!(b.terminate(Duration::from_secs(15)).success());
}

/// Record boundaries of a segment file: (offset, total length) of each record.
fn records_of(segment: &[u8]) -> Vec<(usize, usize)> {
    const SEGMENT_HEADER: usize = 8;
    const RECORD_HEADER: usize = 36;
    let mut out = Vec::new();
    let mut offset = SEGMENT_HEADER;
    while offset + RECORD_HEADER <= segment.len() && &segment[offset..offset + 4] == b"SQR1" {
        let len = u32::from_le_bytes(segment[offset + 4..offset + 8].try_into().unwrap()) as usize;
        out.push((offset, RECORD_HEADER + len));
        offset += RECORD_HEADER + len;
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn corrupt_records_are_skipped_counted_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(dir.path());
    let a = chain.start_a(256 * 1024 * 1024);
    let ack_log = dir.path().join("acks.txt");
    // B is down: every acknowledged request stays in A's queue, one record each.
    let summary = loadgen_summary(chain.loadgen(500, 2.0, 0, &ack_log));
    let acked = acknowledged(&ack_log);
    assert!(acked.len() >= 200, "{summary}");
    assert!(a.terminate(Duration::from_secs(15)).success());

    let files = segments(&chain.queue_dir);
    let last = files.last().expect("a segment file").clone();
    let mut bytes = std::fs::read(&last).unwrap();
    let records = records_of(&bytes);
    assert!(records.len() >= 5, "{} records in {last:?}", records.len());
    // Flip bytes inside the third record's payload...
    let (offset, len) = records[2];
    for b in &mut bytes[offset + 40..offset + 48.min(len)] {
        *b ^= 0xff;
    }
    // ...and tear the last record in half, as a crash mid-write would.
    let (tail_offset, tail_len) = *records.last().unwrap();
    bytes.truncate(tail_offset + tail_len / 2);
    std::fs::write(&last, &bytes).unwrap();

    let a = chain.start_a(256 * 1024 * 1024);
    let skipped = a
        .metric_value("sentinel_queue_corrupt_records_total", &[])
        .unwrap_or(-1.0);
    assert_eq!(
        skipped,
        2.0,
        "exactly the two damaged records are skipped:\n{}",
        a.log()
    );
    assert!(
        a.log()
            .contains(&last.file_name().unwrap().to_string_lossy().to_string()),
        "the log names the segment:\n{}",
        a.log()
    );
    let b = chain.start_b();
    // Each record holds one request of 10 spans.
    let expected = acked.len() - 20;
    assert!(
        eventually(Duration::from_secs(30), || chain.delivered().len()
            == expected),
        "delivered {} of the {expected} intact spans",
        chain.delivered().len()
    );
    let delivered = chain.delivered();
    assert!(delivered.keys().all(|s| acked.contains(s)));
    assert!(a.terminate(Duration::from_secs(15)).success());
    assert!(b.terminate(Duration::from_secs(15)).success());
}

#[test]
fn a_permanent_rejection_is_dead_lettered_and_later_data_flows() {
    let dir = tempfile::tempdir().unwrap();
    let (b_http, b_admin) = (free_port(), free_port());
    let b_out = dir.path().join("b.jsonl");
    // B refuses bodies over 64 KiB with 413, which OTLP/HTTP says not to retry.
    let b = Agent::start(
        dir.path(),
        "b",
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{b_http}\n        max_request_body_size: 65536\nexporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{b_admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            b_out.display()
        ),
        b_admin,
    );
    let (a_http, a_admin) = (free_port(), free_port());
    let queue = dir.path().join("queue");
    let a = Agent::start(
        dir.path(),
        "a",
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{a_http}\nexporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:{b_http}\n    sending_queue:\n      type: disk\n      directory: {}\n    retry_on_failure:\n      initial_interval: 50ms\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{a_admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlphttp]\n",
            queue.display()
        ),
        a_admin,
    );
    // 300 KB of pseudo-random hex: gzip cannot shrink it under B's limit.
    let mut state = 0x2545f4914f6cdd1du64;
    let noise: String = (0..300_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from_digit((state % 16) as u32, 16).unwrap()
        })
        .collect();
    let post = |name: &str, blob: &str| {
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"{name}","attributes":[{{"key":"blob","value":{{"stringValue":"{blob}"}}}}]}}]}}]}}]}}"#
        );
        post_json(a_http, &body)
    };
    assert_eq!(
        post("poison", &noise),
        200,
        "A accepts it: the limit is B's"
    );
    let dead_letters = queue.join("dead-letter.jsonl");
    assert!(
        eventually(Duration::from_secs(15), || std::fs::read_to_string(
            &dead_letters
        )
        .is_ok_and(|t| t.contains("poison"))),
        "the poison batch is dead-lettered; A log:\n{}",
        a.log()
    );
    let line = std::fs::read_to_string(&dead_letters).unwrap();
    assert!(
        line.contains("413"),
        "the reason is recorded: {}",
        &line[..line.len().min(400)]
    );
    assert_eq!(post("after-poison", "small"), 200);
    assert!(
        eventually(Duration::from_secs(15), || std::fs::read_to_string(&b_out)
            .is_ok_and(|t| t.contains("after-poison"))),
        "later data still flows; A log:\n{}",
        a.log()
    );
    assert_eq!(
        a.metric_value("sentinel_queue_dead_lettered_total", &[]),
        Some(1.0),
        "{}",
        a.metrics()
    );
    assert!(
        !std::fs::read_to_string(&b_out)
            .unwrap()
            .contains("\"name\":\"poison\""),
        "B never stored the poison"
    );
    assert!(a.terminate(Duration::from_secs(15)).success());
    assert!(b.terminate(Duration::from_secs(15)).success());
}

fn post_json(port: u16, body: &str) -> u16 {
    sentinel_tests::http_post_json(port, "/v1/traces", body).0
}
