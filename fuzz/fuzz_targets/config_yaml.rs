//! Config loading and validation (`sentinel validate`) from YAML text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sentinel_agent::fuzz_api::config_text(data);
});
