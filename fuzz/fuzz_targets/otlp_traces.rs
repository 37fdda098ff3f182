//! OTLP/protobuf traces export request: decode plus the receiver's validity checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sentinel_pipeline::Signal;

fuzz_target!(|data: &[u8]| {
    sentinel_agent::fuzz_api::otlp_request(Signal::Traces, false, data);
});
