//! OTLP/JSON export requests; the first byte picks the signal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sentinel_pipeline::Signal;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let signal = match first % 3 {
        0 => Signal::Traces,
        1 => Signal::Metrics,
        _ => Signal::Logs,
    };
    sentinel_agent::fuzz_api::otlp_request(signal, true, body);
});
