//! Parsing `/proc/<pid>/` files.

pub use procfs_core::process::Io;
use procfs_core::FromRead;

/// The fields of `/proc/<pid>/stat` the scraper uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stat {
    pub comm: String,
    pub state: char,
    pub ppid: i64,
    pub flags: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub threads: i64,
    pub start_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
}

/// Kernel threads have no memory, executable or command line worth reporting.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Stat {
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// `/proc/<pid>/stat`, parsed by procfs-core (which handles a `comm` holding spaces and
/// parentheses), narrowed to the fields the scraper uses.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let s = procfs_core::process::Stat::from_read(text.as_bytes()).ok()?;
    Some(Stat {
        comm: s.comm,
        state: s.state,
        ppid: i64::from(s.ppid),
        flags: u64::from(s.flags),
        minor_faults: s.minflt,
        major_faults: s.majflt,
        utime_ticks: s.utime,
        stime_ticks: s.stime,
        threads: s.num_threads,
        start_ticks: s.starttime,
        vsize_bytes: s.vsize,
        rss_pages: s.rss,
    })
}

/// `/proc/<pid>/io`, parsed by procfs-core; `None` when a field is missing (a kernel
/// without task I/O accounting).
pub fn parse_io(text: &str) -> Option<Io> {
    Io::from_read(text.as_bytes()).ok()
}

/// `/etc/passwd` → uid to user name.
pub fn parse_passwd(text: &str) -> std::collections::HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comm() {
        let text = "42 (my (odd) proc) S 1 42 42 0 -1 4194560 100 0 3 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.comm, "my (odd) proc");
        assert_eq!((s.ppid, s.threads, s.start_ticks), (1, 7, 12345));
        assert_eq!((s.utime_ticks, s.stime_ticks, s.major_faults), (250, 50, 3));
        assert_eq!((s.vsize_bytes, s.rss_pages), (104857600, 2560));
        assert!(!s.is_kernel_thread());
        assert_eq!(parse_stat("42 (truncated"), None);
    }

    #[test]
    fn parses_io_and_refuses_an_incomplete_file() {
        let text = "rchar: 1\nwchar: 2\nsyscr: 30\nsyscw: 40\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        let io = parse_io(text).unwrap();
        assert_eq!(
            (io.read_bytes, io.write_bytes, io.syscr, io.syscw),
            (4096, 8192, 30, 40)
        );
        assert!(parse_io("rchar: 1\n").is_none());
    }
}
