use super::*;

const SMAPS: &str = "\
55db72908000-55db72d81000 r--p 00000000 fe:00 5538329                    /opt/sentinel/bin/sentinel
Size:               4580 kB
Rss:                1824 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dw sd
55db72d81000-55db74002000 r-xp 00478000 fe:00 5538329                    /opt/sentinel/bin/sentinel
Size:              19972 kB
Rss:                8624 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw sd
55db74002000-55db740a1000 r--p 016f8000 fe:00 5538329                    /opt/sentinel/bin/sentinel
Rss:                 636 kB
Anonymous:           636 kB
55db740a1000-55db740a7000 rw-p 01796000 fe:00 5538329                    /opt/sentinel/bin/sentinel
Rss:                  24 kB
Anonymous:            24 kB
55db740a7000-55db740c8000 rw-p 00000000 00:00 0                          [heap]
Rss:                 380 kB
Anonymous:           380 kB
7f4631600000-7f46316c5000 r--s 00000000 fe:00 326305                     /var/lib/data.idx
Rss:                 788 kB
Anonymous:             0 kB
7f4631700000-7f4631710000 r--p 00000000 00:05 1024                       /dev/dri/card0
Rss:                  64 kB
Anonymous:             0 kB
7f4631800000-7f4631900000 r--p 00000000 00:00 0 
Rss:                  16 kB
Anonymous:             0 kB
7ffde8c66000-7ffde8c68000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
Anonymous:             0 kB
7f4631b40000-7f4631bb4000 r-xp 00010000 fe:00 326603                     /usr/lib/x86_64-linux-gnu/libm.so.6
Rss:                 312 kB
Anonymous:             0 kB
";

#[test]
fn only_private_read_only_file_mappings_without_anonymous_pages_are_releasable() {
    let found = releasable(SMAPS);
    let ranges: Vec<_> = found
        .iter()
        .map(|m| (m.range.start, m.resident_bytes / 1024))
        .collect();
    assert_eq!(
        ranges,
        vec![
            (0x55db72908000, 1824),
            (0x55db72d81000, 8624),
            (0x7f4631b40000, 312)
        ],
        "the binary's read-only data and text and a library's text; not RELRO (anonymous \
         pages), writable, shared, device or anonymous mappings, nor the vDSO"
    );
    assert_eq!(found[1].range.end, 0x55db74002000);
}

#[test]
fn a_mapping_whose_anonymous_line_is_missing_is_kept() {
    let text =
        "7f4631b40000-7f4631bb4000 r-xp 00010000 fe:00 326603  /usr/lib/libm.so.6\nRss: 4 kB\n";
    assert!(releasable(text).is_empty());
}

/// Read-only data the test reads back after the release.
static TABLE: [u64; 4096] = {
    let mut table = [0u64; 4096];
    let mut i = 0;
    while i < table.len() {
        table[i] = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        i += 1;
    }
    table
};

fn rss_file_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|line| field_kib(line, "RssFile:"))
        .expect("RssFile")
}

#[test]
fn releasing_this_process_unmaps_file_pages_and_keeps_their_contents() {
    let sum = |table: &[u64]| table.iter().fold(0u64, |acc, v| acc.wrapping_add(*v));
    let expected = sum(std::hint::black_box(&TABLE));
    let before = rss_file_kib();
    let released = release().expect("release");
    let after = rss_file_kib();
    assert!(released.mappings > 0, "{released:?}");
    assert!(
        after < before,
        "file-backed resident memory went from {before} to {after} KiB"
    );
    // The pages fault back in with the same bytes.
    assert_eq!(sum(std::hint::black_box(&TABLE)), expected);
}
