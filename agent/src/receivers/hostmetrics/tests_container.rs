//! Container awareness against crafted trees: the start-up check that names what to
//! mount, and the `container` scraper's cgroup v2 figures. `tests/tests/` repeats both in
//! real namespaces and a real cgroup.

use super::scraper::Scraper;
use super::tests::{fake_root, points, value, write};
use super::*;

const HOSTFS: &str = "root_path: /hostfs";
const PID: &str = "hostPID: true";
const NET: &str = "hostNetwork: true";

/// A fake `/proc` holding `/proc/self` and `/proc/1`: namespace links (`kind:[inode]`,
/// PID 1's left out when `None`, as the kernel refuses them for a non-dumpable PID 1) and
/// the texts the check falls back on.
struct FakeProc {
    dir: tempfile::TempDir,
}

impl FakeProc {
    fn new() -> FakeProc {
        FakeProc {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn ns(self, who: &str, kind: &str, inode: u64) -> FakeProc {
        let dir = self.dir.path().join(format!("proc/{who}/ns"));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(format!("{kind}:[{inode}]"), dir.join(kind)).unwrap();
        self
    }

    fn file(self, rel: &str, body: &str) -> FakeProc {
        write(self.dir.path(), rel, body);
        self
    }

    fn detect(&self, host_root: &Path) -> container::HostAccess {
        container::detect(&container::Probe {
            own_root: self.dir.path(),
            host_root: &Root::new(host_root),
        })
    }
}

const HOST_PID_NS: u64 = 4026531836;
const MOUNTINFO_HOST: &str =
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n28 27 0:5 / /proc rw - proc proc rw\n";
const MOUNTINFO_OTHER: &str = "43 42 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
const NET_DEV_HOST: &str = "Inter-|   Receive\n face |bytes\n    lo: 1 2\n  eth0: 3 4\n";
const NET_DEV_LO: &str = "Inter-|   Receive\n face |bytes\n    lo: 0 0\n";

fn hints(access: &container::HostAccess) -> [bool; 3] {
    let line = access.diagnostic().unwrap_or_default();
    [HOSTFS, PID, NET].map(|hint| line.contains(hint))
}

#[test]
fn a_host_agent_whose_pid_1_hides_its_namespaces_is_not_a_container() {
    // This machine: a /.dockerenv, PID 1 not dumpable (its ns links refused), but the
    // initial PID namespace and PID 1's mounts and interfaces.
    let proc = FakeProc::new()
        .file(".dockerenv", "")
        .ns("self", "pid", HOST_PID_NS)
        .ns("self", "cgroup", 4026531835)
        .file("proc/self/cgroup", "4:memory:/process_api/67f9\n0::/\n")
        .file("proc/self/mountinfo", MOUNTINFO_HOST)
        .file("proc/1/mountinfo", MOUNTINFO_HOST)
        .file("proc/self/net/dev", NET_DEV_HOST)
        .file("proc/1/net/dev", NET_DEV_HOST);
    let access = proc.detect(Path::new("/"));
    assert!(!access.in_container, "{access:?}");
    assert_eq!(access.diagnostic(), None);
}

#[test]
fn a_container_with_nothing_of_the_host_is_told_all_three() {
    let proc = FakeProc::new()
        .ns("self", "pid", 4026532246)
        .ns("1", "pid", 4026532246)
        .file("proc/self/cgroup", "0::/kubepods/pod1/abc\n");
    let access = proc.detect(Path::new("/"));
    assert!(access.in_container);
    assert_eq!(hints(&access), [true, true, true]);
}

#[test]
fn host_pid_with_other_mounts_or_network_is_told_which() {
    // Readable namespace links decide.
    let by_inode = FakeProc::new()
        .ns("self", "pid", HOST_PID_NS)
        .ns("self", "mnt", 4026532300)
        .ns("1", "mnt", 4026531832)
        .ns("self", "net", 4026531833)
        .ns("1", "net", 4026531833);
    assert_eq!(
        hints(&by_inode.detect(Path::new("/"))),
        [true, false, false]
    );
    // Without them, the mount ID of / and the interface names decide.
    let by_text = FakeProc::new()
        .ns("self", "pid", HOST_PID_NS)
        .file("proc/self/mountinfo", MOUNTINFO_HOST)
        .file("proc/1/mountinfo", MOUNTINFO_HOST)
        .file("proc/self/net/dev", NET_DEV_LO)
        .file("proc/1/net/dev", NET_DEV_HOST);
    let access = by_text.detect(Path::new("/"));
    assert!(access.in_container);
    assert_eq!(hints(&access), [false, false, true]);
    let moved = FakeProc::new()
        .ns("self", "pid", HOST_PID_NS)
        .file("proc/self/mountinfo", MOUNTINFO_OTHER)
        .file("proc/1/mountinfo", MOUNTINFO_HOST);
    assert_eq!(hints(&moved.detect(Path::new("/"))), [true, false, false]);
}

#[test]
fn hostfs_sharing_the_hosts_pid_namespace_is_enough() {
    let host = fake_root();
    std::fs::create_dir_all(host.path().join("proc/1/ns")).unwrap();
    std::os::unix::fs::symlink("pid:[4026532000]", host.path().join("proc/1/ns/pid")).unwrap();
    write(host.path(), "proc/1/net/dev", NET_DEV_HOST);
    let same_pid = FakeProc::new().ns("self", "pid", 4026532000);
    assert_eq!(same_pid.detect(host.path()).diagnostic(), None);
    // The host's / but not its PID namespace: only that is missing.
    let own_pid = FakeProc::new().ns("self", "pid", 4026532999);
    assert_eq!(hints(&own_pid.detect(host.path())), [false, true, false]);
}

#[test]
fn readers_of_namespace_links_mountinfo_and_net_dev() {
    assert_eq!(container::ns_inode("pid:[4026531836]"), Some(4026531836));
    assert_eq!(container::ns_inode("garbage"), None);
    assert_eq!(container::root_mount_id(MOUNTINFO_HOST), Some(27));
    assert_eq!(container::interfaces(NET_DEV_HOST), ["eth0", "lo"]);
}

#[test]
fn capabilities_come_from_the_kernels_cap_eff() {
    // This machine's root: everything but CAP_SYS_RESOURCE.
    let root = "Uid:\t0\t0\t0\t0\nCapEff:\t000001fffeffffff\n";
    assert_eq!(
        container::missing_process_capabilities(root),
        Vec::<&str>::new()
    );
    assert!(container::denial_hint(root).contains("another reason"));
    assert_eq!(
        container::missing_process_capabilities("CapEff:\t0000000000080004\n"),
        Vec::<&str>::new()
    );
    // Root with CAP_SYS_PTRACE (bit 19) dropped.
    let dropped = "Uid:\t0\t0\t0\t0\nCapEff:\t000001fffef7ffff\n";
    assert_eq!(
        container::missing_process_capabilities(dropped),
        ["CAP_SYS_PTRACE"]
    );
    assert!(container::denial_hint(dropped).contains("needs CAP_SYS_PTRACE"));
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
