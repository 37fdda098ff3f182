//! Unmaps, once the agent has started, the pages of code and read-only data that only
//! start-up used, as the kernel frees its init sections after boot.
//!
//! Why: most of an idle or lightly loaded agent's resident memory is its own binary. Start-up
//! (config parsing, validation, building every component) runs code spread over the whole
//! executable, and each page fault maps the 64 KiB around it, so at 10k spans/s about
//! 10 MiB of code and read-only data stayed resident while the steady state touches about
//! 1.2 MiB of it (`/proc/<pid>/clear_refs`, docs/performance.md).
//!
//! How: `madvise(MADV_DONTNEED)` on every private, read-only, file-backed mapping that holds
//! no anonymous (copy-on-write) page. For such a mapping the call only drops the page table
//! entries: the contents are the file's, so a later access faults the same bytes back in
//! from the page cache. Mappings the dynamic loader wrote (relocations, RELRO) hold
//! anonymous pages and are left alone, as are writable and shared mappings.
//!
//! What stays resident is what runs: after 40 s at 10k spans/s the binary's text was 6.7
//! instead of 10.2 MiB (the hot code is about 1 MiB, but each fault still maps the 64 KiB
//! around it; `MADV_RANDOM` does not change that) and the whole RSS 10.2 instead of 17.5 MiB.
//!
//! `SENTINEL_KEEP_STARTUP_PAGES=1` in the environment turns this off (to compare RSS).

use std::ops::Range;

/// The environment variable that keeps start-up pages mapped.
pub const KEEP_ENV: &str = "SENTINEL_KEEP_STARTUP_PAGES";

/// What one release did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    pub mappings: usize,
    /// Resident bytes the released mappings had just before.
    pub resident_bytes: u64,
}

/// Releases the start-up pages unless [`KEEP_ENV`] is set; logs what it did.
pub fn release_after_start() {
    if std::env::var_os(KEEP_ENV).is_some_and(|v| v != "0" && !v.is_empty()) {
        return;
    }
    match release() {
        Ok(released) => tracing::debug!(
            mappings = released.mappings,
            resident_mib = released.resident_bytes as f64 / 1048576.0,
            "Unmapped start-up code and read-only data pages."
        ),
        Err(err) => tracing::debug!(error = %err, "Start-up pages stay mapped."),
    }
}

/// Reads `/proc/self/smaps` and drops the page table entries of the releasable mappings.
pub fn release() -> std::io::Result<Released> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = Released::default();
    for mapping in releasable(&smaps) {
        let len = mapping.range.end - mapping.range.start;
        // SAFETY: the range is a whole private, read-only mapping of a file with no
        // anonymous page (see `releasable`): no one can write to it, so MADV_DONTNEED only
        // drops page table entries and later reads fault in the file's unchanged bytes.
        // Nothing in the process can observe a difference but timing.
        let rc = unsafe {
            libc::madvise(
                mapping.range.start as *mut libc::c_void,
                len,
                libc::MADV_DONTNEED,
            )
        };
        if rc == 0 {
            released.mappings += 1;
            released.resident_bytes += mapping.resident_bytes;
        }
    }
    Ok(released)
}

/// One mapping `release` may unmap.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    range: Range<usize>,
    resident_bytes: u64,
}

/// The mappings of an smaps text that are private, read-only, backed by a regular file and
/// hold no anonymous page.
fn releasable(smaps: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut current: Option<(Mapping, bool)> = None;
    for line in smaps.lines() {
        if let Some(header) = parse_header(line) {
            out.extend(current.take().filter(|(_, anon)| !anon).map(|(m, _)| m));
            current = header.map(|range| {
                let mapping = Mapping {
                    range,
                    resident_bytes: 0,
                };
                // Anonymous unknown until its line: assume some.
                (mapping, true)
            });
            continue;
        }
        let Some((mapping, anonymous)) = current.as_mut() else {
            continue;
        };
        if let Some(kib) = field_kib(line, "Rss:") {
            mapping.resident_bytes = kib * 1024;
        } else if let Some(kib) = field_kib(line, "Anonymous:") {
            *anonymous = kib != 0;
        }
    }
    out.extend(current.filter(|(_, anon)| !anon).map(|(m, _)| m));
    out
}

/// `None` if `line` is not a mapping's header; `Some(None)` for a header of a mapping that
/// is not releasable, `Some(Some(range))` for one that may be.
fn parse_header(line: &str) -> Option<Option<Range<usize>>> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    let (_offset, _device, inode) = (fields.next()?, fields.next()?, fields.next()?);
    let path = fields.next().unwrap_or("");
    let private_read_only = perms.len() == 4 && !perms.contains('w') && perms.ends_with('p');
    // Only the path's first word is looked at: enough to tell a file from `[heap]`,
    // `[vdso]` or a device.
    let regular_file = inode != "0" && path.starts_with('/') && !path.starts_with("/dev/");
    Some((private_read_only && regular_file && start < end).then_some(start..end))
}

fn field_kib(line: &str, name: &str) -> Option<u64> {
    let rest = line.strip_prefix(name)?;
    rest.trim().strip_suffix("kB")?.trim().parse().ok()
}

#[cfg(test)]
mod tests;
