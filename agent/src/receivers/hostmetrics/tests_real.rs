//! hostmetrics against the machine the tests run on.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::*;

fn real(scrapers: &str) -> Collector {
    collector(&config(&format!("scrapers: {scrapers}"))).0
}

fn meminfo_total() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    root::kv_bytes(&text, "MemTotal").unwrap() as f64
}

#[test]
fn memory_total_equals_meminfo() {
    let out = real("{memory: {metrics: {system.memory.limit: {enabled: true}}}}")
        .collect()
        .unwrap();
    assert_eq!(value(&out, "system.memory.limit", &[]), meminfo_total());
    // The states partition the total, as dashboards that stack them expect.
    let states: f64 = points(&out, "system.memory.usage")
        .iter()
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(states, meminfo_total());
}

#[test]
fn cpu_time_is_monotonic_per_mode() {
    let mut c = real("{cpu: }");
    let first = points(&c.collect().unwrap(), "system.cpu.time");
    let spin = std::time::Instant::now();
    while spin.elapsed() < Duration::from_millis(300) {
        std::hint::black_box(spin.elapsed());
    }
    let second = points(&c.collect().unwrap(), "system.cpu.time");
    assert_eq!(first.len(), second.len());
    assert!(!first.is_empty());
    let mut grew = false;
    for ((_, a, before), (_, b, after)) in first.iter().zip(&second) {
        assert_eq!(a, b);
        assert!(after >= before, "{a:?}: {before} → {after}");
        grew |= after > before;
    }
    assert!(grew, "300 ms of spinning shows up in some mode");
}

#[test]
fn root_filesystem_size_matches_statvfs() {
    let out = real("{filesystem: }").collect().unwrap();
    let fs = filesystem::statvfs(Path::new("/")).unwrap();
    let root_points: Vec<_> = points(&out, "system.filesystem.usage")
        .into_iter()
        .filter(|(_, a, _)| a["system.filesystem.mountpoint"] == "/")
        .collect();
    assert_eq!(root_points.len(), 3, "used, free, reserved for /");
    let total: f64 = root_points.iter().map(|(_, _, v)| v).sum();
    assert_eq!(
        total, fs.total as f64,
        "used + free + reserved = f_blocks * f_frsize"
    );
}

/// `df -B1 --output=used,avail,size /`: Used, Avail and the size, in bytes.
fn df_root() -> [f64; 3] {
    let out = Command::new("df")
        .args(["-B1", "--output=used,avail,size", "/"])
        .output()
        .expect("run df");
    assert!(out.status.success(), "df failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<f64> = text
        .lines()
        .nth(1)
        .expect("a data row")
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    [row[0], row[1], row[2]]
}

#[test]
fn root_filesystem_used_free_and_utilization_match_df() {
    let before = df_root();
    let out = real("{filesystem: {metrics: {system.filesystem.utilization: {enabled: true}}}}")
        .collect()
        .unwrap();
    let after = df_root();
    let root = |state: &str| {
        value(
            &out,
            "system.filesystem.usage",
            &[
                ("system.filesystem.mountpoint", "/"),
                ("system.filesystem.state", state),
            ],
        )
    };
    let utilization = value(
        &out,
        "system.filesystem.utilization",
        &[("system.filesystem.mountpoint", "/")],
    );
    // Other processes write to `/` between the calls: allow what changed between the two
    // df runs plus 0.5% of the disk.
    let slack = |i: usize| (before[i] - after[i]).abs() + before[2] * 0.005;
    let near = |ours: f64, i: usize| (ours - before[i]).abs() <= slack(i);
    assert!(
        near(root("used"), 0),
        "used {} vs df {before:?}",
        root("used")
    );
    assert!(
        near(root("free"), 1),
        "free {} vs df Avail {before:?}",
        root("free")
    );
    let df_use = before[0] / (before[0] + before[1]);
    assert!(
        (utilization - df_use).abs() <= 0.01,
        "utilization {utilization} vs df Use% {df_use} ({before:?})"
    );
}

/// A child that waits, then allocates and touches 200 MiB when told to.
const ALLOCATOR: &str = "import sys\nprint('idle', flush=True)\nsys.stdin.readline()\nb = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('ready', flush=True)\nsys.stdin.readline()\n";

#[test]
fn child_rss_is_reported_within_5_percent_and_its_command_line_redacted() {
    let mut child = Command::new("python3")
        .args([
            "-c",
            ALLOCATOR,
            "rss-probe",
            "--password=hunter2",
            "--token",
            "abc123",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let pid = child.id().to_string();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "idle");
    let mut c = real("{process: {include: {command_lines: [rss-probe]}}}");
    let rss_of = |out: &[ResourceMetrics]| {
        let mine: Vec<_> = points(out, "process.memory.usage")
            .into_iter()
            .filter(|(r, _, _)| r["process.pid"] == pid)
            .collect();
        assert_eq!(mine.len(), 1, "the child is reported once");
        mine[0].clone()
    };
    let (_, _, before) = rss_of(&c.collect().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let out = c.collect().unwrap();
    let (resource, _, after) = rss_of(&out);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let vm_rss = root::kv_bytes(&status, "VmRSS").unwrap() as f64;
    drop(stdin);
    let _ = child.wait();

    let allocated = 200.0 * 1024.0 * 1024.0;
    let grown = after - before;
    assert!(
        (grown - allocated).abs() / allocated < 0.05,
        "RSS grew by {grown}, expected ~{allocated}"
    );
    assert!(
        (after - vm_rss).abs() / vm_rss < 0.05,
        "reported {after}, VmRSS {vm_rss}"
    );
    let command_line = &resource["process.command_line"];
    assert!(
        command_line.ends_with("rss-probe --password=*** --token ***"),
        "{command_line}"
    );
    assert!(!command_line.contains("hunter2") && !command_line.contains("abc123"));
    assert!(
        resource["process.executable.name"].starts_with("python"),
        "{resource:?}"
    );
    assert_eq!(
        resource["process.parent_pid"],
        std::process::id().to_string()
    );
    assert_eq!(resource["process.owner"], whoami());
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn process_scrape_of_every_process_is_cheap() {
    // Keep at least 300 processes around so the figure means something on small machines.
    let sleepers: Vec<_> = (0..300)
        .map(|_| Command::new("sleep").arg("30").spawn().unwrap())
        .collect();
    let mut c = real("{process: {metrics: {process.threads: {enabled: true}, process.open_file_descriptors: {enabled: true}}}}");
    c.collect().unwrap();
    let started = std::time::Instant::now();
    let out = c.collect().unwrap();
    let took = started.elapsed();
    for mut s in sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert!(out.len() >= 300, "{} processes", out.len());
    // Debug build, shared CPU: a generous bound that still catches per-scrape re-reads of everything.
    assert!(
        took < Duration::from_secs(2),
        "second scrape of {} processes took {took:?}",
        out.len()
    );
    eprintln!(
        "process scrape: {} processes in {took:?} (debug build)",
        out.len()
    );
}
