//! Files and permissions (issue 21 §4) and the disk queue's recovery (§2), through the
//! real binary: private modes of everything the agent creates, refusal of an
//! others-writable queue directory and of a second agent on one queue, the dead-letter
//! cap, and `queue inspect` on crafted segments (smuggled records, a flood of markers).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sentinel_tests::{free_port, http_post_json, sentinel_bin, wait_with_timeout, Agent};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// OTLP/HTTP in; logs out to `otlphttp` (disk queue in `queue`, dead letters capped at
/// 1 MiB × 2 files) and to the `file` exporter.
fn config(data: &Path, queue: &Path, backend: u16, http: u16, admin: u16) -> String {
    [
        "receivers:".to_string(),
        "  otlp:".into(),
        "    protocols:".into(),
        "      http:".into(),
        format!("        endpoint: 127.0.0.1:{http}"),
        "exporters:".into(),
        "  otlphttp/backend:".into(),
        format!("    endpoint: http://127.0.0.1:{backend}"),
        "    sending_queue:".into(),
        "      type: disk".into(),
        format!("      directory: {}", queue.display()),
        "      dead_letter:".into(),
        "        max_megabytes: 1".into(),
        "        max_backups: 1".into(),
        "  file:".into(),
        format!("    path: {}", data.join("out/logs.jsonl").display()),
        "service:".into(),
        format!("  data_dir: {}", data.display()),
        "  telemetry:".into(),
        "    metrics:".into(),
        format!("      address: 127.0.0.1:{admin}"),
        "  pipelines:".into(),
        "    logs:".into(),
        "      receivers: [otlp]".into(),
        "      exporters: [otlphttp/backend, file]".into(),
    ]
    .join("\n")
}

/// A backend that refuses every request for good (HTTP 400): everything is dead-lettered.
fn refusing_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                loop {
                    let Ok(n) = stream.read(&mut chunk) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let _ = stream.write_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
            });
        }
    });
    port
}

fn logs_json(body: &str) -> String {
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{{"stringValue":"{body}"}}}}]}}]}}]}}"#
    )
}

fn wait_for(what: &str, agent: &Agent, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}; log:\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn created_files_are_private_and_dead_letters_are_capped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let queue = dir.path().join("state/queue");
    let (http, admin) = (free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &config(&data, &queue, refusing_backend(), http, admin),
        admin,
    );
    let big = "x".repeat(200_000);
    for _ in 0..20 {
        let (status, body) = http_post_json(http, "/v1/logs", &logs_json(&big));
        assert_eq!(status, 200, "{body}");
    }
    let dead = queue.join("dead-letter.jsonl");
    let dropped = |agent: &Agent| {
        agent
            .metric_value("sentinel_queue_dead_letters_dropped_total", &[])
            .unwrap_or(0.0)
    };
    wait_for(
        "dead letters dropped past the cap",
        &agent,
        Duration::from_secs(60),
        || dropped(&agent) > 0.0,
    );

    for private_dir in [&queue, &data.join("out")] {
        assert_eq!(mode(private_dir), 0o700, "{}", private_dir.display());
    }
    let mut files = vec![dead.clone(), data.join("out/logs.jsonl")];
    for entry in std::fs::read_dir(&queue).unwrap() {
        files.push(entry.unwrap().path());
    }
    assert!(files.iter().any(|f| f.ends_with("LOCK")), "{files:?}");
    assert!(files
        .iter()
        .any(|f| f.extension().is_some_and(|e| e == "seg")));
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }

    let backup = queue.join("dead-letter.jsonl.1");
    for file in [&dead, &backup] {
        let len = std::fs::metadata(file).unwrap().len();
        assert!(len <= 1 << 20, "{} holds {len} bytes", file.display());
    }
    assert!(!queue.join("dead-letter.jsonl.2").exists());
    let lines =
        |p: &Path| std::fs::read(p).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
    let kept = lines(&dead) + lines(&backup);
    wait_for(
        "every request dead-lettered or dropped",
        &agent,
        Duration::from_secs(30),
        || lines(&dead) + lines(&backup) + dropped(&agent) as usize == 20,
    );
    assert!(kept < 20);
    let log = agent.log();
    assert_eq!(
        log.matches("dead-letter files reached their cap").count(),
        1,
        "{log}"
    );
}

#[test]
fn a_queue_directory_writable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("queue");
    std::fs::create_dir(&queue).unwrap();
    std::fs::set_permissions(&queue, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (http, admin) = (free_port(), free_port());
    let data = dir.path().join("data");
    let mut agent = Agent::spawn(
        dir.path(),
        "agent",
        &config(&data, &queue, free_port(), http, admin),
        admin,
    );
    let status = wait_with_timeout(&mut agent.child, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the agent did not refuse to start; log:\n{}", agent.log()));
    assert!(!status.success());
    let log = agent.log();
    assert!(log.contains("writable by other users"), "{log}");
    assert!(log.contains(&queue.display().to_string()), "{log}");
    assert!(!queue.join("cursor").exists() && !queue.join("LOCK").exists());
}

#[test]
fn a_second_agent_on_the_same_queue_directory_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("queue");
    let admin = free_port();
    let first = Agent::start(
        dir.path(),
        "first",
        &config(
            &dir.path().join("a"),
            &queue,
            free_port(),
            free_port(),
            admin,
        ),
        admin,
    );
    let admin = free_port();
    let mut second = Agent::spawn(
        dir.path(),
        "second",
        &config(
            &dir.path().join("b"),
            &queue,
            free_port(),
            free_port(),
            admin,
        ),
        admin,
    );
    let status = wait_with_timeout(&mut second.child, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the second agent kept running; log:\n{}", second.log()));
    assert!(!status.success());
    let log = second.log();
    assert!(
        log.contains(&format!("another agent (PID {})", first.pid())),
        "{log}"
    );
    let status = first.terminate(Duration::from_secs(20));
    assert!(status.success(), "the first agent is unaffected: {status}");
}

/// CRC32C (Castagnoli), bit by bit: the checksum of segment records.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// One record in the segment format (exporters/src/sending/disk/record.rs).
fn record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut covered = Vec::new();
    covered.extend_from_slice(&seq.to_le_bytes());
    covered.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
    covered.extend_from_slice(&1u32.to_le_bytes());
    covered.extend_from_slice(&[3, 0, 0, 0]);
    covered.extend_from_slice(payload);
    let mut out = b"SQR1".to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c(&covered).to_le_bytes());
    out.extend_from_slice(&covered);
    out
}

fn inspect(queue: &Path) -> String {
    let out = Command::new(sentinel_bin())
        .args(["queue", "inspect"])
        .arg(queue)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn crafted_queue(root: &Path, segment: &[u8]) -> std::path::PathBuf {
    let queue = root.join("queue");
    std::fs::create_dir(&queue).unwrap();
    std::fs::write(queue.join("cursor"), "0\n").unwrap();
    let mut bytes = b"SNTQSEG1".to_vec();
    bytes.extend_from_slice(segment);
    std::fs::write(queue.join("00000000000000000001.seg"), bytes).unwrap();
    queue
}

#[test]
fn queue_inspect_does_not_resurrect_a_record_smuggled_in_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut outer_payload = vec![b'x'; 64];
    outer_payload.extend(record(u64::MAX - 1, b"smuggled"));
    outer_payload.extend_from_slice(&[b'y'; 64]);
    let mut segment = record(1, b"first");
    let outer_at = segment.len();
    segment.extend(record(2, &outer_payload));
    segment.extend(record(3, b"third"));
    segment[outer_at + 36 + 5] ^= 0xff;
    let report = inspect(&crafted_queue(dir.path(), &segment));
    assert!(report.contains("unconfirmed:     2 record(s)"), "{report}");
    assert!(report.contains("corrupt records: 1\n"), "{report}");
    assert!(report.contains("  1-3\n"), "{report}");
    assert!(!report.contains("18446744073709551614"), "{report}");
}

#[test]
fn queue_inspect_walks_a_segment_full_of_bad_markers_in_one_pass() {
    // 8 MiB of record markers that claim long payloads with wrong checksums: the scan
    // that took 17.5 s (quadratic) reports it as one damaged stretch.
    let dir = tempfile::tempdir().unwrap();
    let mut marker = record(1, b"");
    marker[4..8].copy_from_slice(&(4u32 << 20).to_le_bytes());
    marker[8] ^= 0xff;
    let segment: Vec<u8> = marker.iter().copied().cycle().take(8 << 20).collect();
    let report = inspect(&crafted_queue(dir.path(), &segment));
    assert!(report.contains("unconfirmed:     0 record(s)"), "{report}");
    assert!(report.contains("corrupt records: 1\n"), "{report}");
}
