//! A bad config never stops the agent: a YAML syntax error, a validation error, a port in
//! use and an unreadable file each leave the last good config running. The reload answers
//! 400 with FILE:LINE:COL, the log says the same, `sentinel_config_reloads_total{result=
//! "failure"}` counts it, `/readyz` stays 200 and data keeps flowing.

mod reload_support;

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reload_support::{bodies, start_load, Generations, WatchedAgent};
use sentinel_tests::{eventually, free_port};

fn config(dir: &Path, grpc: u16, admin: u16, extra_receiver: Option<u16>) -> String {
    let out = dir.join("out.jsonl");
    let (extra, extra_ref) = match extra_receiver {
        Some(port) => (
            format!(
                "  otlp/second:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{port}\n"
            ),
            ", otlp/second",
        ),
        None => (String::new(), ""),
    };
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n{extra}\
exporters:\n  file:\n    path: {}\n\
service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    logs:\n      receivers: [otlp{extra_ref}]\n      exporters: [file]\n",
        out.display()
    )
}

/// Reloads the bad text and checks that it failed with `expected` in the answer, the log
/// and the counter, and that the agent still serves the last good config.
fn assert_rejected(agent: &WatchedAgent, failures: f64, expected: &str) {
    let (status, body) = agent.reload();
    assert_eq!(status, 400, "bad config accepted: {body}");
    assert!(body.contains(expected), "answer lacks {expected:?}: {body}");
    assert!(body.contains("last good config keeps running"), "{body}");
    let counted = eventually(Duration::from_secs(5), || {
        agent.reloads("failure") >= failures
    });
    assert!(
        counted,
        "failure not counted; metrics reloads: {}",
        agent.reloads("failure")
    );
    assert!(
        agent.log().contains(expected),
        "log lacks {expected:?}:\n{}",
        agent.log()
    );
    assert!(agent.ready(), "not ready after a failed reload");
}

#[test]
fn bad_configs_keep_the_last_good_one_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (grpc, admin) = (free_port(), free_port());
    let good = config(dir.path(), grpc, admin, None);
    let agent = WatchedAgent::start(dir.path(), &good, admin);
    let generations = Arc::new(Generations::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (load, threads) = start_load(grpc, 1, generations, stop.clone());
    let file = agent.config.display().to_string();

    // YAML syntax: the position of the bad line.
    agent.write_config(&format!("{good}oops: [\n"));
    assert_rejected(&agent, 1.0, &format!("{file}:"));
    assert!(agent.log().contains("invalid YAML"), "{}", agent.log());

    // Validation: an undefined exporter, placed at the pipeline's list.
    agent.write_config(&good.replace("exporters: [file]", "exporters: [file, nowhere]"));
    assert_rejected(&agent, 2.0, "nowhere");

    // A port in use: the new receiver cannot bind; the running one keeps its socket.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    agent.write_config(&config(dir.path(), grpc, admin, Some(port)));
    assert_rejected(&agent, 3.0, &format!("{file}:"));
    assert!(agent.log().contains(&port.to_string()), "{}", agent.log());

    // An unreadable file (gone).
    std::fs::remove_file(&agent.config).expect("remove config");
    assert_rejected(&agent, 4.0, "cannot read config file");

    // The good config comes back and reloads fine.
    agent.write_config(&good);
    let (status, body) = agent.reload();
    assert_eq!(status, 200, "{body}");
    assert!(agent.reloads("success") >= 1.0);

    stop.store(true, Ordering::Release);
    for thread in threads {
        thread.join().expect("load thread");
    }
    let acked = load.acked.lock().unwrap().clone();
    let refused = load.refused.lock().unwrap().clone();
    agent.terminate();
    let written = bodies(&dir.path().join("out.jsonl"));
    assert!(!acked.is_empty(), "no load went through");
    let lost: Vec<_> = acked
        .iter()
        .filter(|a| !written.contains(&a.item))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged items lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        refused.is_empty(),
        "clients refused: {:?}",
        &refused[..refused.len().min(5)]
    );
}
