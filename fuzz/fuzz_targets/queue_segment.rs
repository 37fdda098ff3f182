//! The disk-queue recovery scan on an arbitrary segment file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sentinel_exporters::sending::fuzz_scan_segment(data);
});
