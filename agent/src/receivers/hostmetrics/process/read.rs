//! Parsing `/proc/<pid>/` files.

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

/// `comm` may contain spaces and parentheses, so split at the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let f: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    if f.len() < 22 {
        return None;
    }
    let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
    Some(Stat {
        comm,
        state: f[0].chars().next().unwrap_or('?'),
        ppid: f[1].parse().unwrap_or(0),
        flags: n(6),
        minor_faults: n(7),
        major_faults: n(9),
        utime_ticks: n(11),
        stime_ticks: n(12),
        threads: f[17].parse().unwrap_or(0),
        start_ticks: n(19),
        vsize_bytes: n(20),
        rss_pages: n(21),
    })
}

/// `/proc/<pid>/io`: bytes that reached storage, and read/write syscalls.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Io {
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}

pub fn parse_io(text: &str) -> Io {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": ")?.trim().parse().ok())
            .unwrap_or(0)
    };
    Io {
        read_bytes: get("read_bytes"),
        write_bytes: get("write_bytes"),
        read_ops: get("syscr"),
        write_ops: get("syscw"),
    }
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
    }
}
