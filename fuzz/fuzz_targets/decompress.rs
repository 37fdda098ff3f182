//! gzip and zstd request bodies under the receivers' size cap; the first byte picks the
//! encoding. The output must never exceed the cap.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sentinel_pipeline::http::{decompress, Compression};

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let compression = if first & 1 == 0 {
        Compression::Gzip
    } else {
        Compression::Zstd
    };
    if let Ok(out) = decompress(compression, Bytes::copy_from_slice(body), LIMIT) {
        assert!(out.len() <= LIMIT, "inflated past the cap: {}", out.len());
    }
});
