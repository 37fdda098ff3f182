//! hostmetrics tests: a crafted fake root proves `root_path` is honoured and the parsing
//! is right; the real machine checks the figures against `/proc` and `statvfs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, ResourceMetrics};
use sentinel_pipeline::SelfMetrics;

use super::*;

type Attrs = BTreeMap<String, String>;

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every point of metric `name`: (resource attributes, point attributes, value).
pub fn points(out: &[ResourceMetrics], name: &str) -> Vec<(Attrs, Attrs, f64)> {
    let mut found = Vec::new();
    for rm in out {
        let resource: Attrs = rm
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .map(|kv| (kv.key.clone(), text(&kv.value)))
            .collect();
        for m in rm
            .scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
        {
            let dps = match &m.data {
                Some(metric::Data::Sum(s)) => &s.data_points,
                Some(metric::Data::Gauge(g)) => &g.data_points,
                _ => continue,
            };
            for p in dps {
                let attrs = p
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), text(&kv.value)))
                    .collect();
                let value = match p.value {
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    None => f64::NAN,
                };
                found.push((resource.clone(), attrs, value));
            }
        }
    }
    found
}

pub(super) fn value(out: &[ResourceMetrics], name: &str, want: &[(&str, &str)]) -> f64 {
    let matching: Vec<f64> = points(out, name)
        .into_iter()
        .filter(|(_, a, _)| {
            want.iter()
                .all(|(k, v)| a.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(matching.len(), 1, "{name} {want:?}: {matching:?}");
    matching[0]
}

pub(super) fn config(yaml: &str) -> HostMetricsConfig {
    let node = crate::config::yaml::parse("test.yaml", yaml).expect("yaml");
    pipeline_config::decode_valid(&node).unwrap_or_else(|d| panic!("{d:?}"))
}

pub(super) fn collector(config: &HostMetricsConfig) -> (Collector, std::sync::Arc<SelfMetrics>) {
    let metrics = SelfMetrics::new();
    (
        Collector::build(config, &metrics, "hostmetrics/test").unwrap(),
        metrics,
    )
}

pub(super) fn write(root: &Path, rel: &str, body: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// A host with 2 CPUs, 8 GiB, one disk, one NIC, one swap file and one process.
pub(super) fn fake_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "proc/stat", "cpu  300 0 100 1000 0 0 0 0 0 0\ncpu0 100 1 50 500 5 2 3 4 0 0\ncpu1 200 2 60 600 6 0 0 0 0 0\nintr 1\nbtime 1700000000\nprocesses 4242\nprocs_running 3\nprocs_blocked 1\n");
    write(r, "proc/meminfo", "MemTotal:        8388608 kB\nMemFree:         1048576 kB\nMemAvailable:    4194304 kB\nBuffers:          102400 kB\nCached:          2097152 kB\nSReclaimable:     204800 kB\nSUnreclaim:        51200 kB\n");
    write(r, "proc/loadavg", "0.50 1.25 2.00 2/345 6789\n");
    write(r, "proc/uptime", "12345.67 20000.00\n");
    write(r, "proc/diskstats", "   8       0 sda 100 10 2000 50 200 20 4000 70 1 300 400 0 0 0 0\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    write(r, "proc/net/dev", "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n");
    write(r, "proc/net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue\n   0: 0100007F:1F90 00000000:0000 0A 0:0\n   1: 0100007F:1F90 0100007F:C350 01 0:0\n   2: 0100007F:1F90 0100007F:C351 01 0:0\n");
    write(
        r,
        "proc/swaps",
        "Filename Type Size Used Priority\n/swapfile file 1048576 262144 -2\n",
    );
    write(
        r,
        "proc/vmstat",
        "pgpgin 11\npgpgout 12\npswpin 3\npswpout 4\npgfault 100\npgmajfault 7\n",
    );
    write(
        r,
        "proc/mounts",
        "/dev/fake / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n",
    );
    write(r, "proc/4321/stat", "4321 (fakedb) S 1 4321 4321 0 -1 4194560 500 0 9 0 250 50 0 0 20 0 7 0 1000 104857600 2560 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n");
    write(
        r,
        "proc/4321/cmdline",
        "/usr/bin/fakedb\0--password=hunter2\0--port\x005432\0",
    );
    write(r, "proc/4321/io", "rchar: 1\nwchar: 2\nsyscr: 30\nsyscw: 40\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n");
    std::fs::create_dir_all(r.join("proc/4321/fd")).unwrap();
    for fd in 0..3 {
        std::os::unix::fs::symlink("/dev/null", r.join(format!("proc/4321/fd/{fd}"))).unwrap();
    }
    std::os::unix::fs::symlink("/usr/bin/fakedb", r.join("proc/4321/exe")).unwrap();
    write(r, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    dir
}

const ALL: &str = "scrapers: {cpu: {metrics: {system.cpu.utilization: {enabled: true}, system.cpu.logical.count: {enabled: true}}}, memory: {metrics: {system.memory.limit: {enabled: true}, system.memory.utilization: {enabled: true}}}, disk: , filesystem: , network: , load: , paging: , processes: , system: , process: {metrics: {process.threads: {enabled: true}, process.open_file_descriptors: {enabled: true}}}}";

/// One round of every scraper over the fake host.
fn fake_host_round() -> (
    tempfile::TempDir,
    Vec<ResourceMetrics>,
    std::sync::Arc<SelfMetrics>,
) {
    let dir = fake_root();
    let cfg = config(&format!("root_path: {}\n{ALL}", dir.path().display()));
    let (mut c, metrics) = collector(&cfg);
    let out = c.collect().unwrap();
    (dir, out, metrics)
}

#[test]
fn root_path_reads_cpu_memory_load_and_uptime_of_the_fake_host() {
    let (_dir, out, _) = fake_host_round();
    let ticks = root::clock_ticks_per_second();
    assert_eq!(
        value(
            &out,
            "system.cpu.time",
            &[("cpu.mode", "user"), ("cpu.logical_number", "1")]
        ),
        200.0 / ticks
    );
    assert_eq!(
        value(
            &out,
            "system.cpu.time",
            &[("cpu.mode", "steal"), ("cpu.logical_number", "0")]
        ),
        4.0 / ticks
    );
    assert_eq!(value(&out, "system.cpu.logical.count", &[]), 2.0);
    assert_eq!(value(&out, "system.memory.limit", &[]), 8388608.0 * 1024.0);
    assert_eq!(
        value(
            &out,
            "system.memory.usage",
            &[("system.memory.state", "free")]
        ),
        1048576.0 * 1024.0
    );
    let used = (8388608.0 - 1048576.0 - 102400.0 - 2097152.0 - 204800.0) * 1024.0;
    assert_eq!(
        value(
            &out,
            "system.memory.usage",
            &[("system.memory.state", "used")]
        ),
        used
    );
    assert_eq!(value(&out, "system.cpu.load_average.5m", &[]), 1.25);
    assert_eq!(value(&out, "system.uptime", &[]), 12345.67);
}

#[test]
fn root_path_reads_disks_and_network_of_the_fake_host() {
    let (_dir, out, _) = fake_host_round();
    assert_eq!(
        value(
            &out,
            "system.disk.io",
            &[("system.device", "sda"), ("disk.io.direction", "write")]
        ),
        4000.0 * 512.0
    );
    assert_eq!(
        value(&out, "system.disk.io_time", &[("system.device", "sda")]),
        0.3
    );
    assert!(
        points(&out, "system.disk.io")
            .iter()
            .all(|(_, a, _)| a["system.device"] != "loop0"),
        "idle loop devices are skipped"
    );
    assert_eq!(
        value(
            &out,
            "system.network.io",
            &[
                ("network.interface.name", "eth0"),
                ("network.io.direction", "transmit")
            ]
        ),
        2000.0
    );
    assert_eq!(
        value(
            &out,
            "system.network.dropped",
            &[("network.io.direction", "receive")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &out,
            "system.network.connections",
            &[("network.connection.state", "established")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &out,
            "system.network.connections",
            &[("network.connection.state", "listen")]
        ),
        1.0
    );
}

#[test]
fn root_path_reads_paging_and_processes_of_the_fake_host() {
    let (_dir, out, _) = fake_host_round();
    assert_eq!(
        value(
            &out,
            "system.paging.usage",
            &[("system.paging.state", "used")]
        ),
        262144.0 * 1024.0
    );
    assert_eq!(
        value(
            &out,
            "system.paging.faults",
            &[("system.paging.type", "minor")]
        ),
        93.0
    );
    assert_eq!(
        value(
            &out,
            "system.paging.operations",
            &[
                ("system.paging.direction", "in"),
                ("system.paging.type", "major")
            ]
        ),
        3.0
    );
    assert_eq!(
        value(
            &out,
            "system.processes.count",
            &[("system.process.status", "running")]
        ),
        3.0
    );
    assert_eq!(value(&out, "system.processes.created", &[]), 4242.0);
}

#[test]
fn root_path_reads_the_fake_hosts_filesystem() {
    let (dir, out, _) = fake_host_round();
    // The fake `/` is the temp dir itself, so statvfs of it is what must be reported.
    let fs = filesystem::statvfs(dir.path()).unwrap();
    let free = value(
        &out,
        "system.filesystem.usage",
        &[
            ("system.filesystem.mountpoint", "/"),
            ("system.filesystem.state", "free"),
        ],
    );
    assert!(
        (free - fs.available as f64).abs() < 64.0 * 1024.0 * 1024.0,
        "free {free} vs statvfs {}",
        fs.available
    );
    assert!(points(&out, "system.filesystem.usage")
        .iter()
        .all(|(_, a, _)| a["system.filesystem.type"] != "proc"));
}

#[test]
fn filesystem_utilization_leaves_roots_reserve_out() {
    // 100 blocks, 30 free of which 10 only for root: df shows Used 70, Avail 20, Use% 78%.
    let u = filesystem::FsUsage {
        total: 100,
        free: 30,
        available: 20,
        inodes_total: 10,
        inodes_free: 4,
    };
    assert_eq!((u.used(), u.available, u.reserved()), (70, 20, 10));
    assert_eq!(u.utilization(), 70.0 / 90.0);
    let full = filesystem::FsUsage {
        available: 0,
        free: 5,
        ..u
    };
    assert_eq!(
        full.utilization(),
        1.0,
        "full for users although root has room"
    );
    let empty = filesystem::FsUsage {
        total: 0,
        free: 0,
        available: 0,
        ..u
    };
    assert_eq!(empty.utilization(), 0.0);
}

#[test]
fn root_path_reads_the_fake_hosts_process() {
    let (_dir, out, metrics) = fake_host_round();
    let ticks = root::clock_ticks_per_second();
    // The process, with its command line redacted and its owner resolved from the fake passwd.
    let rss = value(&out, "process.memory.usage", &[]);
    assert_eq!(rss, 2560.0 * root::page_size() as f64);
    let (resource, _, _) = &points(&out, "process.memory.usage")[0];
    assert_eq!(resource["process.pid"], "4321");
    assert_eq!(resource["process.parent_pid"], "1");
    assert_eq!(resource["process.executable.name"], "fakedb");
    assert_eq!(resource["process.executable.path"], "/usr/bin/fakedb");
    assert_eq!(
        resource["process.command_line"],
        "/usr/bin/fakedb --password=*** --port 5432"
    );
    assert_eq!(resource["process.owner"], "root");
    assert_eq!(
        value(&out, "process.cpu.time", &[("cpu.mode", "user")]),
        250.0 / ticks
    );
    assert_eq!(
        value(&out, "process.disk.io", &[("disk.io.direction", "write")]),
        8192.0
    );
    assert_eq!(value(&out, "process.threads", &[]), 7.0);
    assert_eq!(value(&out, "process.open_file_descriptors", &[]), 3.0);
    let exposition = metrics.encode();
    assert!(
        !exposition.contains("scrape_errors_total{"),
        "no errors on a complete fake root: {exposition}"
    );
}

#[test]
fn utilization_comes_from_the_delta_between_scrapes() {
    let dir = fake_root();
    let cfg = config(&format!("root_path: {}\nscrapers: {{cpu: {{metrics: {{system.cpu.utilization: {{enabled: true}}}}}}}}", dir.path().display()));
    let (mut c, _) = collector(&cfg);
    assert!(
        points(&c.collect().unwrap(), "system.cpu.utilization").is_empty(),
        "no utilization without a previous scrape"
    );
    // cpu0: +30 user, +70 idle → 30% user.
    write(
        dir.path(),
        "proc/stat",
        "cpu0 130 1 50 570 5 2 3 4 0 0\ncpu1 200 2 60 600 6 0 0 0 0 0\nbtime 1700000000\n",
    );
    let out = c.collect().unwrap();
    assert!(
        (value(
            &out,
            "system.cpu.utilization",
            &[("cpu.mode", "user"), ("cpu.logical_number", "0")]
        ) - 0.3)
            .abs()
            < 1e-9
    );
    assert_eq!(
        value(
            &out,
            "system.cpu.utilization",
            &[("cpu.mode", "user"), ("cpu.logical_number", "1")]
        ),
        0.0
    );
}

#[test]
fn metric_switches_turn_defaults_off_and_unknown_names_are_rejected() {
    let dir = fake_root();
    let cfg = config(&format!("root_path: {}\nscrapers: {{memory: {{metrics: {{system.memory.usage: {{enabled: false}}, system.memory.utilization: {{enabled: true}}}}}}}}", dir.path().display()));
    let (mut c, _) = collector(&cfg);
    let out = c.collect().unwrap();
    assert!(points(&out, "system.memory.usage").is_empty());
    assert_eq!(points(&out, "system.memory.utilization").len(), 5);
    let node = crate::config::yaml::parse(
        "test.yaml",
        "scrapers: {memory: {metrics: {system.memory.usag: {enabled: true}}}}",
    )
    .unwrap();
    let err = pipeline_config::decode_valid::<HostMetricsConfig>(&node).unwrap_err();
    assert!(err[0].message.contains("system.memory.usage"), "{:?}", err);
    let node = crate::config::yaml::parse("test.yaml", "scrapers: {}").unwrap();
    assert!(pipeline_config::decode_valid::<HostMetricsConfig>(&node).is_err());
    let node = crate::config::yaml::parse("test.yaml", "scrapers: {cpu: , gpu: }").unwrap();
    assert!(pipeline_config::decode_valid::<HostMetricsConfig>(&node).is_err());
    let cfg = config("scrapers: {cpu: }");
    assert_eq!(cfg.collection_interval, Duration::from_secs(10));
}

#[test]
fn missing_files_are_counted_and_other_scrapers_still_report() {
    let dir = fake_root();
    std::fs::remove_file(dir.path().join("proc/loadavg")).unwrap();
    let cfg = config(&format!(
        "root_path: {}\nscrapers: {{load: , memory: }}",
        dir.path().display()
    ));
    let (mut c, metrics) = collector(&cfg);
    for _ in 0..3 {
        let out = c.collect().unwrap();
        assert!(!points(&out, "system.memory.usage").is_empty());
    }
    let exposition = metrics.encode();
    let line = exposition
        .lines()
        .find(|l| l.contains("scrape_errors_total{") && l.contains("scraper=\"load\""))
        .unwrap_or_else(|| panic!("{exposition}"));
    assert!(line.ends_with(" 3"), "{line}");
}

#[test]
fn filters_and_top_n_select_processes() {
    let dir = fake_root();
    let r = dir.path();
    for (pid, comm, rss) in [
        (10, "web", 1000),
        (11, "worker", 3000),
        (12, "worker", 2000),
    ] {
        write(r, &format!("proc/{pid}/stat"), &format!("{pid} ({comm}) S 1 1 1 0 -1 4194560 0 0 0 0 1 1 0 0 20 0 1 0 5 1000 {rss} 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n"));
        write(
            r,
            &format!("proc/{pid}/cmdline"),
            &format!("{comm}\0--queue\0q{pid}\0"),
        );
    }
    let scrape = |process: &str| {
        let cfg = config(&format!(
            "root_path: {}\nscrapers: {{process: {process}}}",
            r.display()
        ));
        let (mut c, _) = collector(&cfg);
        let mut pids: Vec<String> = points(&c.collect().unwrap(), "process.memory.usage")
            .into_iter()
            .map(|(res, _, _)| res["process.pid"].clone())
            .collect();
        pids.sort();
        pids
    };
    assert_eq!(scrape("{include: {names: [worker]}}"), ["11", "12"]);
    assert_eq!(
        scrape("{include: {names: [worker]}, exclude: {command_lines: [q12]}}"),
        ["11"]
    );
    assert_eq!(
        scrape("{include: {names: ['^(web|fake.*)$'], match_type: regexp}}"),
        ["10", "4321"]
    );
    assert_eq!(scrape("{top_n: {by: memory, count: 2}}"), ["11", "4321"]);
}

#[path = "tests_real.rs"]
mod real;

mod receiver {
    use super::*;
    use sentinel_pipeline::{
        BuildContext, Consumer, Fanout, Message, Output, Payload, Refusal, Signal,
    };
    use std::sync::{Arc, Mutex};

    struct Collect(Mutex<Vec<Payload>>);
    impl Consumer for Collect {
        fn consume(&self, msg: Message) -> Result<(), Refusal> {
            self.0.lock().unwrap().push(msg.payload);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_receiver_scrapes_at_once_and_reports_the_six_self_metrics() {
        let dir = fake_root();
        let node = crate::config::yaml::parse(
            "test.yaml",
            &format!("root_path: {}\n{ALL}", dir.path().display()),
        )
        .unwrap();
        let metrics = SelfMetrics::new();
        let ctx = BuildContext {
            id: "hostmetrics/fake".into(),
            metrics: metrics.clone(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            data_dir: std::env::temp_dir(),
        };
        let receiver = HostMetricsReceiverFactory
            .build(&node, ctx.clone())
            .unwrap();
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let mut outputs = Outputs::new();
        outputs.insert(
            Signal::Metrics,
            Output {
                fanout: Fanout::new(vec![sink.clone()]),
                budgets: vec![],
            },
        );
        let running = receiver.start(outputs).await.unwrap();
        for _ in 0..100 {
            if !sink.0.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ctx.shutdown.cancel();
        running.task.await.unwrap();
        let items: usize = sink.0.lock().unwrap().iter().map(Payload::item_count).sum();
        assert!(items > 20, "one scrape of every scraper: {items} points");
        let counts = sentinel_pipeline::testing::component_counts(
            &metrics,
            Kind::Receiver,
            "hostmetrics/fake",
            Signal::Metrics,
        );
        assert_eq!(
            (counts.received, counts.sent, counts.refused),
            (items as u64, items as u64, 0)
        );
    }
}
