//! Probes what the machine lets the end-to-end tests do, so a test that cannot run here is
//! reported by cargo as ignored with its reason instead of passing without checking
//! anything. Each probe is a `--cfg`:
//!
//! - `sentinel_root`: effective uid 0 (namespaces, mounts, running the agent as `nobody`);
//! - `sentinel_cgroup2`: the kernel can mount cgroup2 (`/proc/filesystems`); the cgroup
//!   test mounts its own, so a hybrid host whose `/sys/fs/cgroup` is v1 runs it too;
//! - `sentinel_unshare`, `sentinel_ip`, `sentinel_setpriv`: those tools are on `PATH`.
//!
//! The probes are re-run when the tools, `/proc/filesystems` (new at every boot), `PATH`
//! or the user running cargo change.

use std::path::{Path, PathBuf};

fn main() {
    let probes = [
        ("sentinel_root", effective_uid() == Some(0)),
        ("sentinel_cgroup2", kernel_has_cgroup2()),
        ("sentinel_unshare", tool("unshare")),
        ("sentinel_ip", tool("ip")),
        ("sentinel_setpriv", tool("setpriv")),
    ];
    for (cfg, present) in probes {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if present {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=/proc/filesystems");
    for var in ["PATH", "USER", "LOGNAME", "SUDO_UID"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
}

/// The effective uid of this build script, which runs as the user running cargo (and the
/// tests).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

fn kernel_has_cgroup2() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|text| {
            text.lines()
                .any(|l| l.split_whitespace().last() == Some("cgroup2"))
        })
        .unwrap_or(false)
}

/// Whether `name` is an executable on `PATH`. The directories (or the tool, once found)
/// are watched, so installing or removing it re-runs the probe.
fn tool(name: &str) -> bool {
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    match dirs.iter().map(|d| d.join(name)).find(|p| executable(p)) {
        Some(found) => {
            println!("cargo::rerun-if-changed={}", found.display());
            true
        }
        None => {
            for dir in dirs.iter().filter(|d| d.is_dir()) {
                println!("cargo::rerun-if-changed={}", dir.display());
            }
            false
        }
    }
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
