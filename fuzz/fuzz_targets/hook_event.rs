//! A hook event body: JSON parse, policy decision, redaction, capped log record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sentinel_agent::fuzz_api::hook_event(data);
});
