//! Container awareness against crafted trees: the start-up check that names what to
//! mount, and the `container` scraper's cgroup v2 figures. `tests/tests/` repeats both in
//! real namespaces and a real cgroup.

use super::scraper::Scraper;
use super::tests::{fake_root, points, value, write};
use super::*;

#[test]
fn container_detection_names_what_to_mount() {
    let own = tempfile::tempdir().unwrap();
    write(own.path(), ".dockerenv", "");
    write(own.path(), "proc/1/cgroup", "0::/kubepods/pod1\n");
    std::fs::create_dir_all(own.path().join("proc/self/ns")).unwrap();
    std::os::unix::fs::symlink("pid:[4026532000]", own.path().join("proc/self/ns/pid")).unwrap();
    let blind = container::detect(&container::Probe {
        own_root: own.path(),
        host_root: &Root::new("/"),
        container_env: false,
    });
    assert!(blind.in_container);
    let message = blind.diagnostic().unwrap();
    assert!(
        message.contains("root_path: /hostfs")
            && message.contains("hostPID: true")
            && message.contains("hostNetwork: true"),
        "{message}"
    );

    // With the host's / mounted (its /proc/1 in the same PID namespace as the agent) nothing is missing.
    let host = fake_root();
    std::fs::create_dir_all(host.path().join("proc/1/ns")).unwrap();
    std::os::unix::fs::symlink("pid:[4026532000]", host.path().join("proc/1/ns/pid")).unwrap();
    write(host.path(), "proc/1/net/dev", "");
    let seeing = container::detect(&container::Probe {
        own_root: own.path(),
        host_root: &Root::new(host.path()),
        container_env: false,
    });
    assert_eq!(seeing.diagnostic(), None);

    let bare = tempfile::tempdir().unwrap();
    let host_agent = container::detect(&container::Probe {
        own_root: bare.path(),
        host_root: &Root::new("/"),
        container_env: false,
    });
    assert!(!host_agent.in_container && host_agent.diagnostic().is_none());
    assert_eq!(
        container::missing_process_capabilities("CapEff:\t0000000000080004\n"),
        Vec::<&str>::new()
    );
    assert_eq!(
        container::missing_process_capabilities("CapEff:\t0000000000000000\n"),
        ["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]
    );
}

/// One round of `scraper` alone, at time `now`.
fn scrape_once(
    scraper: &mut container::ContainerScraper,
    now: u64,
) -> std::io::Result<Vec<ResourceMetrics>> {
    let metrics = sentinel_pipeline::SelfMetrics::new();
    let mut errors = ScrapeErrors::new(&metrics, "hostmetrics/test");
    let mut out = Out {
        metrics: Vec::new(),
        resources: Vec::new(),
        errors: &mut errors,
        process_states: None,
    };
    let root = Root::new("/");
    let sample = Sample {
        root: &root,
        now,
        boot: 1,
    };
    scraper.scrape(&sample, &mut out)?;
    Ok(vec![resource(vec![], out.metrics)])
}

#[test]
fn cgroup_v2_limits_and_usage() {
    let fs = tempfile::tempdir().unwrap();
    let dir = "unified/system.slice/agent.scope";
    write(
        fs.path(),
        &format!("{dir}/cgroup.controllers"),
        "cpu memory\n",
    );
    write(fs.path(), &format!("{dir}/cpu.max"), "50000 100000\n");
    write(
        fs.path(),
        &format!("{dir}/cpu.stat"),
        "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\n",
    );
    write(fs.path(), &format!("{dir}/memory.max"), "268435456\n");
    write(fs.path(), &format!("{dir}/memory.current"), "12345678\n");
    let enabled = switches::Enabled::resolve(container::METRICS, &Default::default());
    let mut scraper = container::ContainerScraper::new(
        enabled,
        fs.path(),
        "1:name=systemd:/\n0::/system.slice/agent.scope\n",
    );
    let out = scrape_once(&mut scraper, 2).unwrap();
    assert_eq!(value(&out, "container.cpu.limit", &[]), 0.5);
    assert_eq!(value(&out, "container.memory.limit", &[]), 268435456.0);
    assert_eq!(value(&out, "container.memory.usage", &[]), 12345678.0);
    assert_eq!(
        value(&out, "container.cpu.time", &[("cpu.mode", "user")]),
        2.0
    );
    write(fs.path(), &format!("{dir}/cpu.max"), "max 100000\n");
    write(fs.path(), &format!("{dir}/memory.max"), "max\n");
    let out = scrape_once(&mut scraper, 3).unwrap();
    assert!(
        points(&out, "container.cpu.limit").is_empty()
            && points(&out, "container.memory.limit").is_empty(),
        "unlimited is not reported as a number"
    );
    let mut elsewhere = container::ContainerScraper::new(
        switches::Enabled::default(),
        fs.path(),
        "0::/elsewhere\n",
    );
    assert!(scrape_once(&mut elsewhere, 3).is_err());
}
