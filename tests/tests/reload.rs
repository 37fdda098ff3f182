//! Hot reload under continuous acknowledged load, against the real binary: 20 reloads
//! (POST /-/reload, one SIGHUP, one by `--watch-config`) that add, remove and change
//! processors, exporters and a pipeline. Every acknowledged item must reach every exporter
//! configured for it while it was in flight, and no client may be refused.

mod reload_support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reload_support::{bodies, start_load, Generations, WatchedAgent};
use sentinel_tests::{eventually, free_port};

/// One config of the cycle: exporter variants on the `logs` pipeline, its processors, and
/// whether the `logs/extra` pipeline (to `file/d`) exists.
struct Variant {
    exporters: &'static [&'static str],
    processors: &'static [&'static str],
    extra: bool,
}

/// `a2` changes only the exporter (client swapped, queue kept), `b2` its queue (new
/// queue, the old one drains), `c`/`c2` a disk queue kept across a client change.
const VARIANTS: [Variant; 6] = [
    Variant {
        exporters: &["a", "b", "c"],
        processors: &[],
        extra: false,
    },
    Variant {
        exporters: &["a", "b"],
        processors: &["batch"],
        extra: true,
    },
    Variant {
        exporters: &["a2", "b", "c"],
        processors: &["attributes/v2"],
        extra: false,
    },
    Variant {
        exporters: &["a2", "b2", "c2"],
        processors: &["batch", "attributes/v3"],
        extra: false,
    },
    Variant {
        exporters: &["b2", "c2"],
        processors: &[],
        extra: true,
    },
    Variant {
        exporters: &["a", "c"],
        processors: &["attributes/v5"],
        extra: false,
    },
];

const RELOADS: usize = 20;

fn exporter_yaml(variant: &str, dir: &Path) -> String {
    let id = &variant[..1];
    let path = dir.join(format!("{id}.jsonl"));
    let mut yaml = format!("  file/{id}:\n    path: {}\n", path.display());
    match variant {
        "a2" | "c2" => {
            yaml.push_str("    rotation:\n      max_megabytes: 512\n      max_backups: 3\n")
        }
        "b2" => yaml.push_str("    sending_queue:\n      queue_size: 500\n"),
        _ => {}
    }
    if id == "c" {
        let queue = dir.join("queue-c");
        yaml.push_str(&format!(
            "    sending_queue:\n      type: disk\n      directory: {}\n",
            queue.display()
        ));
    }
    yaml
}

fn config(generation: usize, dir: &Path, grpc: u16, admin: u16) -> String {
    let v = &VARIANTS[generation % VARIANTS.len()];
    let mut exporters: String = v.exporters.iter().map(|e| exporter_yaml(e, dir)).collect();
    if v.extra {
        exporters.push_str(&exporter_yaml("d", dir));
    }
    let ids = |list: &[&str]| {
        list.iter()
            .map(|e| format!("file/{}", &e[..1]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let extra = if v.extra {
        "    logs/extra:\n      receivers: [otlp]\n      exporters: [file/d]\n"
    } else {
        ""
    };
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n\
processors:\n  batch:\n    timeout: 200ms\n  attributes/v2:\n    actions:\n      - {{key: gen, value: v2, action: upsert}}\n  attributes/v3:\n    actions:\n      - {{key: gen, value: v3, action: upsert}}\n  attributes/v5:\n    actions:\n      - {{key: gen, value: v5, action: upsert}}\n\
exporters:\n{exporters}\
service:\n  shutdown_timeout: 20s\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    logs:\n      receivers: [otlp]\n      processors: [{processors}]\n      exporters: [{logs}]\n{extra}",
        processors = v.processors.join(", "),
        logs = ids(v.exporters),
    )
}

/// The exporter ids of generation `n`.
fn exporters_of(generation: usize) -> BTreeSet<String> {
    let v = &VARIANTS[generation % VARIANTS.len()];
    let mut ids: BTreeSet<String> = v.exporters.iter().map(|e| e[..1].to_string()).collect();
    if v.extra {
        ids.insert("d".to_string());
    }
    ids
}

/// How generation `n` is triggered: SIGHUP once, the file watcher once, POST otherwise.
enum How {
    Post,
    Sighup,
    Watch,
}

fn how(generation: usize) -> How {
    match generation {
        7 => How::Sighup,
        13 => How::Watch,
        _ => How::Post,
    }
}

fn reload_to(agent: &WatchedAgent, generation: usize, text: &str) {
    // A write is seen by the watcher too; that second reload of the same text changes
    // nothing. Let it pass before counting.
    std::thread::sleep(Duration::from_millis(600));
    let before = agent.reloads("success");
    agent.write_config(text);
    match how(generation) {
        How::Post => {
            let (status, body) = agent.reload();
            assert_eq!(
                status,
                200,
                "reload {generation} failed: {body}\nlog:\n{}",
                agent.log()
            );
            assert!(body.starts_with("reloaded"), "{body}");
        }
        How::Sighup => sentinel_tests::signal(agent.child.id(), "HUP"),
        How::Watch => {}
    }
    let done = eventually(Duration::from_secs(30), || {
        agent.reloads("success") > before
    });
    assert!(
        done,
        "reload {generation} did not finish; log:\n{}",
        agent.log()
    );
    assert_eq!(agent.reloads("failure"), 0.0, "log:\n{}", agent.log());
}

#[test]
fn nothing_acknowledged_is_lost_across_twenty_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (grpc, admin) = (free_port(), free_port());
    let agent = WatchedAgent::start(dir.path(), &config(0, dir.path(), grpc, admin), admin);
    let generations = Arc::new(Generations::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (load, threads) = start_load(grpc, 4, generations.clone(), stop.clone());
    for generation in 1..=RELOADS {
        let text = config(generation, dir.path(), grpc, admin);
        generations.started.store(generation, Ordering::Release);
        reload_to(&agent, generation, &text);
        generations.finished.store(generation, Ordering::Release);
        assert!(agent.ready(), "not ready after reload {generation}");
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    for thread in threads {
        thread.join().expect("load thread");
    }
    let log = agent.log();
    assert!(
        log.contains("SIGHUP received"),
        "no SIGHUP reload; log:\n{log}"
    );
    assert!(
        log.contains("Config files changed"),
        "no watch reload; log:\n{log}"
    );
    agent.terminate();

    let written: HashMap<String, HashSet<String>> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| {
            (
                id.to_string(),
                bodies(&dir.path().join(format!("{id}.jsonl"))),
            )
        })
        .collect();
    let acked = load.acked.lock().unwrap().clone();
    let refused = load.refused.lock().unwrap().clone();
    assert!(
        acked.len() > 200,
        "too little load to judge: {} acknowledged",
        acked.len()
    );
    let mut missing = Vec::new();
    for item in &acked {
        // Exporters in every config that may have taken the item.
        let mut due = exporters_of(item.first);
        for generation in item.first..=item.last {
            due = due
                .intersection(&exporters_of(generation))
                .cloned()
                .collect();
        }
        for exporter in due {
            if !written[&exporter].contains(&item.item) {
                missing.push(format!(
                    "{} (generations {}..={}) not in file/{exporter}",
                    item.item, item.first, item.last
                ));
            }
        }
    }
    eprintln!("acknowledged {}, refused {}", acked.len(), refused.len());
    assert!(
        missing.is_empty(),
        "{} acknowledged items lost, first: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        refused.is_empty(),
        "{} requests refused during reloads, first: {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );
}
