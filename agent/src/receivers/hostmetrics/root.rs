//! Reading the host's `/proc` and `/sys` under `root_path`, plus the small parsing helpers
//! every scraper shares. Plain file parsing: one read per file, no allocation per field.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// The host's filesystem root as the agent sees it (`/`, or `/hostfs` in a container).
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Root {
        Root { path: path.into() }
    }

    /// `rel` (written without a leading `/`, e.g. `proc/stat`) under the root.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel.trim_start_matches('/'))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `rel` into `buf` (cleared first), reusing its allocation across scrapes.
    pub fn read_into(&self, rel: &str, buf: &mut String) -> io::Result<()> {
        read_path_into(&self.join(rel), buf)
    }

    pub fn read(&self, rel: &str) -> io::Result<String> {
        let mut buf = String::new();
        self.read_into(rel, &mut buf)?;
        Ok(buf)
    }

    /// Boot time in ns since the epoch (`btime` in `/proc/stat`), the start time of every
    /// cumulative host counter.
    pub fn boot_time_unix_nano(&self) -> io::Result<u64> {
        let stat = self.read("proc/stat")?;
        stat.lines()
            .find_map(|line| line.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| secs * 1_000_000_000)
            .ok_or_else(|| invalid("proc/stat has no btime line"))
    }
}

pub fn read_path_into(path: &Path, buf: &mut String) -> io::Result<()> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open(path)?.read_to_string(buf)?;
    Ok(())
}

pub fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// `key: value kB` lines (`/proc/meminfo`, `/proc/<pid>/status`): the value of `key`
/// in bytes when the line carries `kB`, else as written.
pub fn kv_bytes(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        Some(if parts.next() == Some("kB") {
            value * 1024
        } else {
            value
        })
    })
}

/// `key value` lines (`/proc/vmstat`, `/proc/stat`).
pub fn kv_space(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Parses the `cpuN` lines of `/proc/stat` (not the aggregate `cpu` line).
///
/// `/proc/stat` is parsed by hand rather than with procfs-core's `KernelStats`: that one
/// numbers CPUs by position, but the file lists only online CPUs, so with `cpu2` offline
/// `cpu3` would be reported as CPU 2. For the fields read with [`kv_space`] (`btime`,
/// `procs_running`, `procs_blocked`, `processes`) it measured the same CPU (3.5 µs
/// against 2.7 µs for the four lookups) with 11 allocations (1.7 KB) against none.
pub fn parse_per_cpu(stat: &str) -> Vec<(i64, [u64; 8])> {
    stat.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("cpu")?;
            let (number, values) = rest.split_once(' ')?;
            let number: i64 = number.parse().ok()?;
            let mut ticks = [0u64; 8];
            for (slot, value) in ticks.iter_mut().zip(values.split_whitespace()) {
                *slot = value.parse().unwrap_or(0);
            }
            Some((number, ticks))
        })
        .collect()
}

/// Clock ticks per second for `/proc` CPU times.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

pub fn page_size() -> u64 {
    // SAFETY: as above.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// Remembers which problems were already logged, so each cause is logged once rather than
/// once per scrape (the Collector's hostmetrics floods logs this way, contrib #20435).
#[derive(Debug, Default)]
pub struct LogOnce {
    seen: HashSet<String>,
}

impl LogOnce {
    /// True the first time `cause` is seen. The set is bounded by the number of distinct
    /// causes, which are fixed strings plus a scraper name, never per-PID text.
    pub fn first(&mut self, cause: &str) -> bool {
        if self.seen.contains(cause) || self.seen.len() >= 256 {
            return false;
        }
        self.seen.insert(cause.to_string())
    }
}
