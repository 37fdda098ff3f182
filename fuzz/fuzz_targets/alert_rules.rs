//! Prometheus rule files (groups, PromQL expressions, templates) as the alert_rules
//! connector loads them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sentinel_processors::alert_rules::rules::fuzz_load_text(data);
});
