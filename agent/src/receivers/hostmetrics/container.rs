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

/// The initial PID namespace has a fixed inode in every Linux kernel (`PROC_PID_INIT_INO`).
const HOST_PID_NAMESPACE: &str = "pid:[4026531836]";

/// What the start-up check found: each entry names something to mount or set.
#[derive(Debug, Default, PartialEq)]
pub struct HostAccess {
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
    /// The agent's own `/` (for `/.dockerenv`, `/run/.containerenv`, `/proc/self`).
    pub own_root: &'a Path,
    /// `root_path`.
    pub host_root: &'a Root,
    /// `KUBERNETES_SERVICE_HOST` or `container` is set in the environment.
    pub container_env: bool,
}

pub fn detect(probe: &Probe) -> HostAccess {
    let own = |rel: &str| probe.own_root.join(rel);
    let own_cgroup = std::fs::read_to_string(own("proc/1/cgroup")).unwrap_or_default();
    let in_container = probe.container_env
        || own(".dockerenv").exists()
        || own("run/.containerenv").exists()
        || ["docker", "kubepods", "containerd", "libpod", "lxc"]
            .iter()
            .any(|m| own_cgroup.contains(m));
    let mut access = HostAccess {
        in_container,
        missing: Vec::new(),
    };
    if !in_container {
        return access;
    }
    let link = |path: PathBuf| {
        std::fs::read_link(path)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    };
    let hostfs = probe.host_root.path() != Path::new("/");
    if !hostfs {
        access.missing.push("mount the host's / read-only (e.g. at /hostfs, with /proc inside it) and set root_path: /hostfs");
    }
    let own_pid = link(own("proc/self/ns/pid"));
    let host_pid = link(probe.host_root.join("proc/1/ns/pid"));
    let shares_host_pid = own_pid.as_deref() == Some(HOST_PID_NAMESPACE)
        || (hostfs && own_pid.is_some() && own_pid == host_pid);
    if !shares_host_pid {
        access.missing.push("run in the host's PID namespace (Kubernetes hostPID: true, docker --pid=host) so process metrics cover the host's processes");
    }
    // Network figures come from <root>/proc/1/net, the host init's namespace, when the host's
    // /proc is visible; without it they are the container's own unless it shares the host's.
    let host_net_visible = hostfs && probe.host_root.join("proc/1/net/dev").exists();
    let own_net = link(own("proc/self/ns/net"));
    let init_net = link(own("proc/1/ns/net"));
    let shares_init_net = shares_host_pid && own_net.is_some() && own_net == init_net;
    if !(host_net_visible || shares_init_net) {
        access.missing.push("network figures would be the container's: mount the host's /proc (hostfs + hostPID) or set hostNetwork: true (docker --network=host)");
    }
    access
}

/// Effective capabilities of the agent that matter to the process scraper.
pub fn missing_process_capabilities(own_status: &str) -> Vec<&'static str> {
    let caps = own_status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    [(2, "CAP_DAC_READ_SEARCH"), (19, "CAP_SYS_PTRACE")]
        .into_iter()
        .filter(|(bit, _)| caps & (1 << bit) == 0)
        .map(|(_, name)| name)
        .collect()
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
