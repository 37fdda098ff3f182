//! Container awareness in real namespaces: the real `sentinel` binary is started by
//! `unshare` in new PID, network and mount namespaces, as a container runtime would start
//! it, and its one start-up diagnostic must name exactly what is missing. The "hostfs" is
//! the machine's own `/proc` bind-mounted into a temporary directory before the new
//! namespace mounts its own `/proc`, as a DaemonSet's `hostPath: /` mount would show it.
//! Without root, `unshare` or `ip` the tests are reported as ignored, with the reason (see
//! `tests/build.rs`).

use std::path::Path;
use std::process::Command;

use sentinel_tests::{free_port, sentinel_bin};

const HOSTFS_HINT: &str = "mount the host's / read-only";
const PID_HINT: &str = "run in the host's PID namespace";
const NET_HINT: &str = "network figures would be the container's";

/// Runs the agent for three seconds under `unshare FLAGS`, after `setup` (shell), with
/// `root_path`; returns everything it logged.
fn agent_log_in_namespaces(dir: &Path, flags: &[&str], setup: &str, root_path: &Path) -> String {
    let config = dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  hostmetrics:\n    root_path: {}\n    scrapers:\n      system:\n      process:\nexporters:\n  blackhole:\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{}\n  pipelines:\n    metrics:\n      receivers: [hostmetrics]\n      exporters: [blackhole]\n",
            root_path.display(),
            free_port()
        ),
    )
    .unwrap();
    // A new network namespace has its loopback down; the admin endpoint needs it.
    let script = format!(
        "set -e\nip link set lo up\n{setup}\nexec timeout -s TERM 3 '{}' run --config '{}'\n",
        sentinel_bin().display(),
        config.display()
    );
    let output = Command::new("unshare")
        .args(flags)
        .args(["sh", "-c", &script])
        // No `container` variable and no marker file: the check goes by the namespaces.
        .env_remove("container")
        .output()
        .expect("run unshare");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        log.contains("Sentinel is running") && log.contains("Shutdown complete"),
        "the agent did not start under unshare {flags:?}:\n{log}"
    );
    log
}

/// Checks that the one diagnostic names exactly the `expected` hints, and no other.
fn assert_told_exactly(log: &str, expected: &[&str]) {
    let line = diagnostic(log).unwrap_or_else(|| panic!("no diagnostic:\n{log}"));
    for hint in [HOSTFS_HINT, PID_HINT, NET_HINT] {
        assert_eq!(
            line.contains(hint),
            expected.contains(&hint),
            "{hint:?} (expected: {expected:?}) in: {line}"
        );
    }
}

/// The single diagnostic line, if any.
fn diagnostic(log: &str) -> Option<&str> {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cannot see the host"))
        .collect();
    assert!(lines.len() <= 1, "logged more than once:\n{log}");
    lines.first().copied()
}

fn hostfs_with_the_machines_proc(dir: &Path) -> (std::path::PathBuf, String) {
    let hostfs = dir.join("hostfs");
    std::fs::create_dir_all(hostfs.join("proc")).unwrap();
    let setup = format!(
        "mount --bind /proc '{0}/proc'\nmount -t proc proc /proc",
        hostfs.display()
    );
    (hostfs, setup)
}

#[test]
#[cfg_attr(
    not(sentinel_root),
    ignore = "needs root: starts the agent in new PID, network and mount namespaces"
)]
#[cfg_attr(
    all(sentinel_root, not(all(sentinel_unshare, sentinel_ip))),
    ignore = "needs unshare (util-linux) and ip (iproute2)"
)]
fn a_container_with_nothing_of_the_host_is_told_all_three() {
    let dir = tempfile::tempdir().unwrap();
    let log = agent_log_in_namespaces(
        dir.path(),
        &["--pid", "--fork", "--mount-proc", "--net"],
        "",
        Path::new("/"),
    );
    assert_told_exactly(&log, &[HOSTFS_HINT, PID_HINT, NET_HINT]);
}

#[test]
#[cfg_attr(
    not(sentinel_root),
    ignore = "needs root: starts the agent in new PID, network and mount namespaces"
)]
#[cfg_attr(
    all(sentinel_root, not(all(sentinel_unshare, sentinel_ip))),
    ignore = "needs unshare (util-linux) and ip (iproute2)"
)]
fn hostfs_without_host_pid_is_told_only_about_the_pid_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let (hostfs, setup) = hostfs_with_the_machines_proc(dir.path());
    let log = agent_log_in_namespaces(
        dir.path(),
        &["--pid", "--fork", "--mount", "--net"],
        &setup,
        &hostfs,
    );
    // The host's network counters are readable at <hostfs>/proc/1/net.
    assert_told_exactly(&log, &[PID_HINT]);
}

#[test]
#[cfg_attr(
    not(sentinel_root),
    ignore = "needs root: starts the agent in new PID, network and mount namespaces"
)]
#[cfg_attr(
    all(sentinel_root, not(all(sentinel_unshare, sentinel_ip))),
    ignore = "needs unshare (util-linux) and ip (iproute2)"
)]
fn host_pid_and_mounts_without_host_network_is_told_only_about_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let log = agent_log_in_namespaces(dir.path(), &["--net"], "", Path::new("/"));
    // The host's PID 1 has the same mounts: its filesystems are the agent's.
    assert_told_exactly(&log, &[NET_HINT]);
}

#[test]
#[cfg_attr(
    not(sentinel_root),
    ignore = "needs root: starts the agent in a new mount namespace"
)]
#[cfg_attr(
    all(sentinel_root, not(all(sentinel_unshare, sentinel_ip))),
    ignore = "needs unshare (util-linux) and ip (iproute2)"
)]
fn host_pid_and_network_in_other_mounts_is_told_only_about_hostfs() {
    let dir = tempfile::tempdir().unwrap();
    let log = agent_log_in_namespaces(dir.path(), &["--mount"], "", Path::new("/"));
    assert_told_exactly(&log, &[HOSTFS_HINT]);
}

/// The machine itself, whatever marker files it has (this VM has a `/.dockerenv`): in the
/// initial PID namespace, as root with `CAP_SYS_PTRACE`, nothing is missing.
#[test]
#[cfg_attr(
    not(sentinel_root),
    ignore = "needs root: checks that root with CAP_SYS_PTRACE is not told to get it"
)]
#[cfg_attr(
    all(sentinel_root, not(all(sentinel_unshare, sentinel_ip))),
    ignore = "needs unshare (util-linux) and ip (iproute2)"
)]
fn the_host_itself_is_told_nothing() {
    let own_pid = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_eq!(
        own_pid.to_string_lossy(),
        "pid:[4026531836]",
        "this test must run in the host's initial PID namespace"
    );
    let dir = tempfile::tempdir().unwrap();
    let log = agent_log_in_namespaces(dir.path(), &[], "", Path::new("/"));
    assert_eq!(diagnostic(&log), None, "{log}");
    assert!(
        !log.contains("needs root") && !log.contains("needs CAP_SYS_PTRACE"),
        "root with CAP_SYS_PTRACE is told to get it:\n{log}"
    );
    assert!(
        !log.contains("without these capabilities"),
        "capabilities reported missing:\n{log}"
    );
    // PID 1 of this VM is not dumpable: what the kernel still refuses is explained as such.
    if log.contains("permission_denied") {
        assert!(log.contains("refuses for another reason"), "{log}");
    }
}

#[test]
#[cfg_attr(
    not(sentinel_root),
    ignore = "needs root: starts the agent in new PID, network and mount namespaces"
)]
#[cfg_attr(
    all(sentinel_root, not(all(sentinel_unshare, sentinel_ip))),
    ignore = "needs unshare (util-linux) and ip (iproute2)"
)]
fn hostfs_and_host_pid_are_enough() {
    let dir = tempfile::tempdir().unwrap();
    let (hostfs, _) = hostfs_with_the_machines_proc(dir.path());
    let setup = format!("mount --bind /proc '{}/proc'", hostfs.display());
    let log = agent_log_in_namespaces(dir.path(), &["--mount", "--net"], &setup, &hostfs);
    assert_eq!(diagnostic(&log), None, "{log}");
}
