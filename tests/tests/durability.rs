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
                                v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64())
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
            Some((parts.next()?.parse::<u64>().ok()?, parts.next()?.parse::<u64>().ok()?))
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
    let missing: Vec<&u64> = acked.iter().filter(|s| !delivered.contains_key(s)).collect();
    assert!(
        complete,
        "{} of {} acknowledged spans never reached B, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    delivered
}

#[test]
fn kill_9_mid_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(dir.path());
    let _b = chain.start_b();
    let ack_log = dir.path().join("acks.txt");
    let mut a = chain.start_a(256 * 1024 * 1024);
    // The client streams for the whole test; A is killed and restarted under it.
    let client = chain.loadgen(2_000, 14.0, 0, &ack_log);
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
    let acked = acknowledged(&ack_log);
    assert!(acked.len() > 5_000, "the client got acks between kills: {summary}");
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
    assert!(acked.len() > 30_000, "A kept acknowledging during the outage: {summary}");
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
    assert!(refused > 0, "a full queue must refuse with a retryable status: {summary}");
    assert_eq!(summary["failed_requests"], 0, "refusals are retryable, not errors: {summary}");
    let b = chain.start_b();
    let summary = loadgen_summary(chain.loadgen(500, 3.0, 1_000_000, &ack_log));
    assert!(summary["acked_spans"].as_u64().unwrap_or(0) > 0, "clients succeed once B is back: {summary}");
    let acked = acknowledged(&ack_log);
    assert_all_delivered(&chain, &acked, Duration::from_secs(30));
    assert!(a.terminate(Duration::from_secs(15)).success());
    assert!(b.terminate(Duration::from_secs(15)).success());
}
