//! Container awareness: the start-up check that the agent can see the host (filesystem,
//! PID and network namespaces), and the `container` scraper for the agent's own cgroup v2
//! limits and usage.

use std::io;
use std::path::{Path, PathBuf};

use super::root::{invalid, kv_space, Root};
use super::scraper::{Out, Sample, Scraper};
use super::switches::{Enabled, MetricCatalog};
use crate::receivers::scrape::build::{attr, gauge, point, sum, Number};

/// `container.cpu.time` and `container.memory.usage` are the semantic-convention names;
/// the two limits have no convention yet and use the same namespace.
pub const METRICS: MetricCatalog = &[
    ("container.cpu.time", true),
    ("container.cpu.limit", true),
    ("container.memory.usage", true),
    ("container.memory.limit", true),
];

/// The initial PID namespace has a fixed inode in every Linux kernel since 3.8
/// (`PROC_PID_INIT_INO`), so "are we in the host's PID namespace" needs no other process.
const INIT_PID_NS: u64 = 0xEFFF_FFFC;
/// The initial cgroup namespace's fixed inode (`PROC_CGROUP_INIT_INO`).
const INIT_CGROUP_NS: u64 = 0xEFFF_FFFB;
/// Cgroup path components that container runtimes create.
const RUNTIME_CGROUPS: &[&str] = &["docker", "kubepods", "containerd", "libpod", "lxc", "crio"];

/// What the start-up check found: each entry names something to mount or set.
#[derive(Debug, Default, PartialEq)]
pub struct HostAccess {
    /// Some evidence (a namespace other than the host's, a runtime's cgroup) says the agent
    /// runs in a container; a container that shares everything it needs has nothing missing.
    pub in_container: bool,
    pub missing: Vec<&'static str>,
}

impl HostAccess {
    /// The one diagnostic line, or `None` when the agent sees the host.
    pub fn diagnostic(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        Some(format!(
            "hostmetrics runs in a container that cannot see the host, so it would report the container's figures: {} (see deploy/kubernetes/HOST-ACCESS.md)",
            self.missing.join("; ")
        ))
    }
}

/// Where the check looks; tests point it at fake trees.
pub struct Probe<'a> {
    /// The agent's own `/` (for `/proc/self` and `/proc/1`).
    pub own_root: &'a Path,
    /// `root_path`.
    pub host_root: &'a Root,
}

/// `pid:[4026531836]` → 4026531836.
pub fn ns_inode(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

fn ns(path: PathBuf) -> Option<u64> {
    ns_inode(&std::fs::read_link(path).ok()?.to_string_lossy())
}

fn read(path: PathBuf) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The mount ID of `/` in a `mountinfo` text. Each mount namespace has its own copies of
/// the mounts, with new IDs, so two processes with the same ID for `/` share the namespace.
pub fn root_mount_id(mountinfo: &str) -> Option<u64> {
    mountinfo
        .lines()
        .rev()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Interface names of a `net/dev` text, sorted.
pub fn interfaces(net_dev: &str) -> Vec<&str> {
    let mut names: Vec<&str> = net_dev
        .lines()
        .filter_map(|l| Some(l.split_once(':')?.0.trim()))
        .filter(|n| !n.contains('|'))
        .collect();
    names.sort_unstable();
    names
}

/// Whether two readings agree; `None` when either could not be read.
fn same<T: PartialEq>(a: Option<T>, b: Option<T>) -> Option<bool> {
    Some(a? == b?)
}

/// Whether the agent shares namespace `kind` with PID 1 of its `/proc`: the namespace
/// inodes when the kernel lets us read PID 1's links (it may not, even for root, when PID 1
/// is not dumpable), else `fallback` (texts of `/proc/self/<file>` and `/proc/1/<file>`).
fn same_as_pid1(own: &Path, kind: &str, fallback: (&str, fn(&str, &str) -> bool)) -> Option<bool> {
    let by_inode = same(
        ns(own.join(format!("proc/self/ns/{kind}"))),
        ns(own.join(format!("proc/1/ns/{kind}"))),
    );
    by_inode.or_else(|| {
        let (file, compare) = fallback;
        let mine = read(own.join(format!("proc/self/{file}")))?;
        let init = read(own.join(format!("proc/1/{file}")))?;
        Some(compare(&mine, &init))
    })
}

/// What the agent can see of the host, from evidence only: its namespaces against the
/// host's (the initial PID namespace, PID 1's mount and network namespaces) and its cgroup.
/// What cannot be read is not taken as evidence either way.
pub fn detect(probe: &Probe) -> HostAccess {
    let own = probe.own_root;
    let hostfs = probe.host_root.path() != Path::new("/");
    let own_pid = ns(own.join("proc/self/ns/pid"));
    let host_pid = match own_pid {
        None | Some(INIT_PID_NS) => true,
        // With the host's / mounted, its PID 1 tells the host's namespace.
        Some(mine) => hostfs && ns(probe.host_root.join("proc/1/ns/pid")) == Some(mine),
    };
    // Only in the host's PID namespace is our /proc/1 the host's init.
    let (same_mounts, same_net) = if host_pid {
        (
            same_as_pid1(
                own,
                "mnt",
                ("mountinfo", |a, b| root_mount_id(a) == root_mount_id(b)),
            ),
            same_as_pid1(
                own,
                "net",
                ("net/dev", |a, b| interfaces(a) == interfaces(b)),
            ),
        )
    } else {
        (Some(false), Some(false))
    };
    let cgroup = read(own.join("proc/self/cgroup")).unwrap_or_default();
    let runtime_cgroup = cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|path| path.split(['/', '-', '.']))
        .any(|part| RUNTIME_CGROUPS.contains(&part));
    let own_cgroup_ns = ns(own.join("proc/self/ns/cgroup")).is_some_and(|i| i != INIT_CGROUP_NS);
    let mut access = HostAccess {
        in_container: !host_pid
            || same_mounts == Some(false)
            || same_net == Some(false)
            || runtime_cgroup
            || own_cgroup_ns,
        missing: Vec::new(),
    };
    if !hostfs && same_mounts == Some(false) {
        access.missing.push("mount the host's / read-only (e.g. at /hostfs, with /proc inside it) and set root_path: /hostfs");
    }
    if !host_pid {
        access.missing.push("run in the host's PID namespace (Kubernetes hostPID: true, docker --pid=host) so process metrics cover the host's processes");
    }
    // Network figures come from <root>/proc/1/net, the host init's namespace, when the host's
    // /proc is visible; without it they are the container's own unless it shares the host's.
    let host_net_visible = hostfs && probe.host_root.join("proc/1/net/dev").exists();
    if !host_net_visible && same_net == Some(false) {
        access.missing.push("network figures would be the container's: mount the host's /proc (hostfs + hostPID) or set hostNetwork: true (docker --network=host)");
    }
    access
}

/// `CapEff` of a `/proc/<pid>/status` text: the capabilities the kernel grants the process.
fn effective_capabilities(own_status: &str) -> u64 {
    own_status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// Effective capabilities of the agent that matter to the process scraper.
pub fn missing_process_capabilities(own_status: &str) -> Vec<&'static str> {
    let caps = effective_capabilities(own_status);
    [(2, "CAP_DAC_READ_SEARCH"), (19, "CAP_SYS_PTRACE")]
        .into_iter()
        .filter(|(bit, _)| caps & (1 << bit) == 0)
        .map(|(_, name)| name)
        .collect()
}

/// What to say when reading another process's `/proc/<pid>` file is refused, given the
/// agent's own status text: which capability to add, or, when the kernel already grants
/// them, that something else refuses.
pub fn denial_hint(own_status: &str) -> &'static str {
    if missing_process_capabilities(own_status).is_empty() {
        "The agent has CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, so the kernel refuses for another reason: the process is not dumpable, a security module (Yama, AppArmor, SELinux) or /proc's hidepid"
    } else {
        "Reading other users' processes needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (root has them unless they are dropped)"
    }
}

/// `denial_hint` for this process, asked of the kernel once.
pub fn own_denial_hint() -> &'static str {
    static HINT: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    HINT.get_or_init(|| {
        denial_hint(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
    })
}

/// The `container` scraper: the agent's own cgroup v2 figures.
pub struct ContainerScraper {
    enabled: Enabled,
    /// The cgroup v2 directory of the agent, found at build time.
    dir: Option<PathBuf>,
}

impl ContainerScraper {
    /// `cgroup_mount` is normally `/sys/fs/cgroup`, `own_cgroup` the text of `/proc/self/cgroup`.
    pub fn new(enabled: Enabled, cgroup_mount: &Path, own_cgroup: &str) -> ContainerScraper {
        ContainerScraper {
            enabled,
            dir: cgroup_v2_dir(cgroup_mount, own_cgroup),
        }
    }
}

/// The agent's cgroup v2 directory: the `0::<path>` line under the mount (or its `unified`
/// subdirectory on hybrid hosts). With a cgroup namespace the path is `/`, the mount itself.
pub fn cgroup_v2_dir(mount: &Path, own_cgroup: &str) -> Option<PathBuf> {
    let rel = own_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim_start_matches('/');
    [mount.to_path_buf(), mount.join("unified")]
        .into_iter()
        .map(|base| base.join(rel))
        .find(|dir| {
            dir.join("cgroup.controllers").exists()
                && (dir.join("cpu.stat").exists() || dir.join("memory.current").exists())
        })
}

/// `cpu.max`: `<quota|max> <period>` → CPUs allowed, `None` when unlimited.
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut f = text.split_whitespace();
    let quota: f64 = f.next()?.parse().ok()?;
    let period: f64 = f.next()?.parse().ok()?;
    (period > 0.0).then_some(quota / period)
}

impl Scraper for ContainerScraper {
    fn scrape(&mut self, s: &Sample, out: &mut Out) -> io::Result<()> {
        let dir = self.dir.as_ref().ok_or_else(|| {
            invalid("the agent's cgroup v2 directory was not found (cgroup v1 host, or /sys/fs/cgroup not mounted)")
        })?;
        // A controller that is not enabled for this cgroup has no files; report what exists.
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
        let before = out.metrics.len();
        if self.enabled.on("container.cpu.time") {
            if let Some(stat) = read("cpu.stat") {
                let secs = |key| Number::Double(kv_space(&stat, key).unwrap_or(0) as f64 / 1e6);
                let points = [("user", secs("user_usec")), ("system", secs("system_usec"))]
                    .into_iter()
                    .map(|(mode, v)| point(s.boot, s.now, v, vec![attr("cpu.mode", mode)]))
                    .collect();
                out.push(sum(
                    "container.cpu.time",
                    "CPU time of the agent's cgroup",
                    "s",
                    true,
                    points,
                ));
            }
        }
        if self.enabled.on("container.cpu.limit") {
            if let Some(cpus) = read("cpu.max").as_deref().and_then(parse_cpu_max) {
                out.push(gauge(
                    "container.cpu.limit",
                    "CPUs the agent's cgroup may use (cpu.max quota / period)",
                    "{cpu}",
                    vec![point(0, s.now, Number::Double(cpus), vec![])],
                ));
            }
        }
        if self.enabled.on("container.memory.usage") {
            if let Some(current) = read("memory.current").and_then(|v| v.trim().parse::<u64>().ok())
            {
                out.push(sum(
                    "container.memory.usage",
                    "Memory charged to the agent's cgroup",
                    "By",
                    false,
                    vec![point(s.boot, s.now, Number::Int(current as i64), vec![])],
                ));
            }
        }
        if self.enabled.on("container.memory.limit") {
            if let Some(limit) = read("memory.max").and_then(|v| v.trim().parse::<u64>().ok()) {
                out.push(sum(
                    "container.memory.limit",
                    "memory.max of the agent's cgroup",
                    "By",
                    false,
                    vec![point(s.boot, s.now, Number::Int(limit as i64), vec![])],
                ));
            }
        }
        if out.metrics.len() == before
            && read("cpu.stat").is_none()
            && read("memory.current").is_none()
        {
            return Err(invalid(format!(
                "{} has neither cpu.stat nor memory.current",
                dir.display()
            )));
        }
        Ok(())
    }
}
