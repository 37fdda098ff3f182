//! The Collector's config shape (device, interface and mount filters, `initial_delay`,
//! the process scraper's `scrape_process_delay` and `mute_process_*` switches), and
//! process counts by status, against crafted fake roots.

use std::collections::BTreeSet;

use super::tests::{collector, config, fake_root, points, value, write};
use super::*;

/// The values of attribute `key` over every point of metric `name`.
fn attribute_values(out: &[ResourceMetrics], name: &str, key: &str) -> BTreeSet<String> {
    points(out, name)
        .into_iter()
        .filter_map(|(_, attrs, _)| attrs.get(key).cloned())
        .collect()
}

#[test]
fn disk_include_and_exclude_select_devices() {
    let dir = fake_root();
    write(
        dir.path(),
        "proc/diskstats",
        "   8 0 sda 100 10 2000 50 200 20 4000 70 1 300 400 0 0 0 0\n   8 1 sda1 90 9 1800 45 180 18 3600 60 0 280 380 0 0 0 0\n 259 0 nvme0n1 5 0 40 1 6 0 48 2 0 3 3 0 0 0 0\n   7 0 loop0 4 0 8 0 0 0 0 0 0 1 1 0 0 0 0\n",
    );
    let root = dir.path().display();
    let devices = |yaml: &str| {
        let cfg = config(&format!("root_path: {root}\nscrapers: {{disk: {yaml}}}"));
        let (mut c, _) = collector(&cfg);
        attribute_values(&c.collect().unwrap(), "system.disk.io", "system.device")
    };
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    assert_eq!(devices(""), names(&["sda", "sda1", "nvme0n1", "loop0"]));
    assert_eq!(
        devices("{exclude: {devices: ['^loop', '\\d$'], match_type: regexp}}"),
        names(&["sda"]),
        "loop0 and the names ending in a digit are excluded"
    );
    assert_eq!(
        devices("{include: {devices: [sda, nvme0n1]}}"),
        names(&["sda", "nvme0n1"]),
        "strict is the default and compares whole names"
    );
    assert_eq!(
        devices("{include: {devices: ['^sd'], match_type: regexp}, exclude: {devices: [sda1]}}"),
        names(&["sda"])
    );
}

#[test]
fn network_exclude_drops_interfaces_but_not_connection_counts() {
    let dir = fake_root();
    write(dir.path(), "proc/net/dev", "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n    lo: 50 1 0 0 0 0 0 0 50 1 0 0 0 0 0 0\nveth12ab: 7 1 0 0 0 0 0 0 9 1 0 0 0 0 0 0\n");
    let cfg = config(&format!(
        "root_path: {}\nscrapers: {{network: {{exclude: {{interfaces: [lo, '^veth'], match_type: regexp}}}}}}",
        dir.path().display()
    ));
    let (mut c, _) = collector(&cfg);
    let out = c.collect().unwrap();
    assert_eq!(
        attribute_values(&out, "system.network.io", "network.interface.name"),
        BTreeSet::from(["eth0".to_string()])
    );
    assert_eq!(
        value(
            &out,
            "system.network.connections",
            &[("network.connection.state", "established")]
        ),
        2.0
    );
}

#[test]
fn filesystem_filters_on_device_type_and_mount_point() {
    let dir = fake_root();
    let r = dir.path();
    for mount in ["data", "var/lib/kubelet/pods/abc/volume", "mnt/nfs"] {
        std::fs::create_dir_all(r.join(mount)).unwrap();
    }
    write(
        r,
        "proc/mounts",
        "/dev/fake / ext4 rw,relatime 0 0\n/dev/sdb1 /data xfs rw 0 0\n/dev/sdc1 /var/lib/kubelet/pods/abc/volume ext4 rw 0 0\nserver:/export /mnt/nfs nfs4 rw 0 0\nproc /proc proc rw 0 0\n",
    );
    let mounts = |yaml: &str| {
        let cfg = config(&format!(
            "root_path: {}\nscrapers: {{filesystem: {yaml}}}",
            r.display()
        ));
        let (mut c, _) = collector(&cfg);
        attribute_values(
            &c.collect().unwrap(),
            "system.filesystem.usage",
            "system.filesystem.mountpoint",
        )
    };
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    let everything = names(&["/", "/data", "/var/lib/kubelet/pods/abc/volume", "/mnt/nfs"]);
    assert_eq!(mounts(""), everything, "proc is virtual and left out");
    assert_eq!(
        mounts("{exclude_mount_points: {mount_points: ['^/var/lib/kubelet/'], match_type: regexp}, exclude_fs_types: {fs_types: [nfs4]}}"),
        names(&["/", "/data"])
    );
    assert_eq!(
        mounts("{include_fs_types: {fs_types: [ext4]}}"),
        names(&["/", "/var/lib/kubelet/pods/abc/volume"])
    );
    assert_eq!(
        mounts("{include_devices: {devices: ['^/dev/sd'], match_type: regexp}, exclude_devices: {devices: [/dev/sdc1]}}"),
        names(&["/data"])
    );
    assert!(mounts("{include_virtual_filesystems: true}").contains("/proc"));
}

#[test]
fn filter_config_errors_are_clear() {
    let check = |yaml: &str| {
        let node = crate::config::yaml::parse("test.yaml", yaml).unwrap();
        pipeline_config::decode_valid::<HostMetricsConfig>(&node)
            .map(|_| ())
            .unwrap_err()
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let bad_regex = check("scrapers: {disk: {exclude: {devices: ['('], match_type: regexp}}}");
    assert!(
        bad_regex.contains("scrapers.disk.exclude: invalid regex"),
        "{bad_regex}"
    );
    let misspelt = check("scrapers: {network: {include: {interface: [eth0]}}}");
    assert!(misspelt.contains("interfaces"), "{misspelt}");
    let old_shape = check("scrapers: {filesystem: {exclude_fs_types: [nfs]}}");
    assert!(!old_shape.is_empty());
    let bad_type =
        check("scrapers: {filesystem: {exclude_fs_types: {fs_types: [nfs], match_type: glob}}}");
    assert!(bad_type.contains("strict"), "{bad_type}");
}

#[test]
fn initial_delay_is_accepted_and_defaults_to_zero() {
    let cfg = config("initial_delay: 1500ms\nscrapers: {cpu: }");
    assert_eq!(cfg.initial_delay, std::time::Duration::from_millis(1500));
    assert_eq!(
        config("scrapers: {cpu: }").initial_delay,
        std::time::Duration::ZERO
    );
}

#[test]
fn process_counts_by_status_walk_every_process() {
    let dir = fake_root();
    let r = dir.path();
    // 4321 (from the fake root) sleeps; add one of each other walked state, a running one
    // (taken from /proc/stat instead) and a non-process entry.
    for (pid, state) in [
        (10, "Z"),
        (11, "T"),
        (12, "t"),
        (13, "I"),
        (14, "S"),
        (15, "R"),
    ] {
        write(
            r,
            &format!("proc/{pid}/stat"),
            &format!("{pid} (a) b) {state} 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 1 1\n"),
        );
    }
    write(r, "proc/self/stat", "1 (x) S\n");
    let cfg = config(&format!(
        "root_path: {}\nscrapers: {{processes: }}",
        r.display()
    ));
    let (mut c, _) = collector(&cfg);
    let out = c.collect().unwrap();
    let count = |status| {
        value(
            &out,
            "system.processes.count",
            &[("system.process.status", status)],
        )
    };
    assert_eq!(count("sleeping"), 2.0);
    assert_eq!(count("defunct"), 1.0);
    assert_eq!(count("stopped"), 2.0);
    assert_eq!(count("idle"), 1.0);
    assert_eq!(count("running"), 3.0, "from procs_running, not the walk");
    assert_eq!(count("blocked"), 1.0);
}

#[test]
fn stat_state_reads_past_awkward_command_names() {
    assert_eq!(processes::stat_state("7 (we ) ird) Z 1"), Some(b'Z'));
    assert_eq!(processes::stat_state("7 (plain) S 1"), Some(b'S'));
    assert_eq!(processes::stat_state("7 no parens"), None);
}

#[test]
fn scrape_process_delay_leaves_out_young_processes() {
    let dir = fake_root();
    let r = dir.path();
    let ticks = root::clock_ticks_per_second();
    let now = scrape::build::now_unix_nano() / 1_000_000_000;
    // Booted 1000 s ago; 20 started 5 s ago, 21 started 500 s ago.
    write(r, "proc/stat", &format!("cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\nbtime {}\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n", now - 1000));
    for (pid, age) in [(20u64, 5u64), (21, 500)] {
        let start = (1000 - age) * ticks as u64;
        write(r, &format!("proc/{pid}/stat"), &format!("{pid} (job) S 1 1 1 0 -1 4194560 0 0 0 0 1 1 0 0 20 0 1 0 {start} 1000 10 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n"));
    }
    let pids = |process: &str| {
        let cfg = config(&format!(
            "root_path: {}\nscrapers: {{process: {process}}}",
            r.display()
        ));
        let (mut c, _) = collector(&cfg);
        points(&c.collect().unwrap(), "process.memory.usage")
            .into_iter()
            .map(|(res, _, _)| res["process.pid"].clone())
            .collect::<BTreeSet<_>>()
    };
    let set = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(pids("{include: {names: [job]}}"), set(&["20", "21"]));
    assert_eq!(
        pids("{include: {names: [job]}, scrape_process_delay: 30s}"),
        set(&["21"])
    );
}

#[test]
fn muted_causes_are_counted_but_not_logged() {
    let metrics = sentinel_pipeline::SelfMetrics::new();
    let mut errors = ScrapeErrors::new(&metrics, "hostmetrics/mute");
    let cfg = config(
        "scrapers: {process: {mute_process_exe_error: true, mute_process_name_error: true}}",
    );
    errors.mute_logs("process", &cfg.scrapers.process.unwrap().muted_causes());
    assert!(!errors.record("process", "exe_permission_denied", &"x"));
    assert!(!errors.record("process", "cmdline_unreadable", &"x"));
    assert!(
        errors.record("process", "io_permission_denied", &"x"),
        "io is not muted"
    );
    assert!(
        !errors.record("process", "io_permission_denied", &"x"),
        "logged once"
    );
    let exposition = metrics.encode();
    let count = |cause: &str| {
        exposition
            .lines()
            .find(|l| l.contains(&format!("cause=\"{cause}\"")))
            .unwrap_or_else(|| panic!("{cause} not counted:\n{exposition}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(count("exe_permission_denied"), "1");
    assert_eq!(count("io_permission_denied"), "2");

    let all = config("scrapers: {process: {mute_process_all_errors: true}}");
    let mut errors = ScrapeErrors::new(&metrics, "hostmetrics/mute-all");
    errors.mute_logs("process", &all.scrapers.process.unwrap().muted_causes());
    assert!(!errors.record("process", "max_processes_reached", &"x"));
    assert!(
        errors.record("cpu", "unreadable", &"x"),
        "other scrapers still log"
    );
}

#[test]
fn conntrack_metrics_are_the_collectors_optional_pair() {
    let dir = fake_root();
    let r = dir.path();
    let on = "{metrics: {system.network.conntrack.count: {enabled: true}, system.network.conntrack.max: {enabled: true}}}";
    let scrape_counting_errors = || {
        let cfg = config(&format!(
            "root_path: {}\nscrapers: {{network: {on}}}",
            r.display()
        ));
        let (mut c, metrics) = collector(&cfg);
        (c.collect().unwrap(), metrics.encode())
    };
    let scrape = || scrape_counting_errors().0;
    // Without nf_conntrack the pair is left out; the interface counters still come, and
    // the failure is counted like any partial scrape failure.
    let (out, exposition) = scrape_counting_errors();
    assert!(points(&out, "system.network.conntrack.count").is_empty());
    assert!(!points(&out, "system.network.io").is_empty());
    assert!(
        exposition
            .lines()
            .any(|l| l.contains("scrape_errors_total{") && l.contains("scraper=\"network\"")),
        "{exposition}"
    );

    write(r, "proc/sys/net/netfilter/nf_conntrack_count", "42\n");
    write(r, "proc/sys/net/netfilter/nf_conntrack_max", "262144\n");
    let out = scrape();
    assert_eq!(value(&out, "system.network.conntrack.count", &[]), 42.0);
    assert_eq!(value(&out, "system.network.conntrack.max", &[]), 262144.0);
    // Off by default, as in the Collector.
    let cfg = config(&format!(
        "root_path: {}\nscrapers: {{network: }}",
        r.display()
    ));
    let (mut c, _) = collector(&cfg);
    assert!(points(&c.collect().unwrap(), "system.network.conntrack.count").is_empty());
}

#[test]
fn process_counts_come_from_the_process_scrapers_walk_when_both_run() {
    let dir = fake_root();
    let r = dir.path();
    for (pid, state) in [(10, "Z"), (11, "T"), (12, "I"), (13, "S"), (14, "R")] {
        write(r, &format!("proc/{pid}/stat"), &format!("{pid} (a) b) {state} 1 1 1 0 -1 4194560 0 0 0 0 1 1 0 0 20 0 1 0 5 1000 10 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n"));
    }
    let counts = |process: &str| {
        let cfg = config(&format!(
            "root_path: {}\nscrapers: {{processes: , process: {process}}}",
            r.display()
        ));
        let (mut c, _) = collector(&cfg);
        let out = c.collect().unwrap();
        [
            "sleeping", "defunct", "stopped", "idle", "running", "blocked",
        ]
        .map(|status| {
            value(
                &out,
                "system.processes.count",
                &[("system.process.status", status)],
            )
        })
    };
    // 4321 and 13 sleep; running and blocked are /proc/stat's 3 and 1.
    let expected = [2.0, 1.0, 1.0, 1.0, 3.0, 1.0];
    // The process scraper's filter does not narrow the counts: every process is counted.
    assert_eq!(counts("{include: {names: [none-such]}}"), expected);
    // A walk cut short by max_processes is not trusted: the processes scraper walks itself.
    assert_eq!(counts("{max_processes: 1}"), expected);
}
