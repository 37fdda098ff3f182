//! Issue 21 item 2, every memory probe against the real binary with the shipped default
//! config: the agent answers each one without decoding what it cannot afford, its peak
//! RSS stays within [`OVERHEAD_MIB`] of idle, and a normal client is served during the
//! probe (except while stalled bodies hold the whole budget, when it is refused with a
//! retryable 429 / RESOURCE_EXHAUSTED) and after it.

use sentinel_tests::probes::{measure, Measured, Probe};
use sentinel_tests::{sentinel_bin, workspace_root};

/// Peak RSS above idle that any probe may cause with the default config: its
/// `memory_limiter` budget (`limit_mib: 48`, bodies in flight included) plus 24 MiB for
/// what is not charged (decoder windows of up to eight concurrent gzip/zstd streams,
/// connection buffers, allocator slack; a debug build under a loaded machine peaked at
/// 69.4 MiB on the compression bombs). Without the limits these probes peak at 0.5 to 2.3 GiB.
const OVERHEAD_MIB: f64 = 48.0 + 24.0;

fn run(probe: Probe) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let config = workspace_root().join("config/default.yaml");
    let measured = measure(sentinel_bin(), &config, dir.path(), probe);
    eprintln!(
        "{}: answers {:?}, idle {:.1} MiB, peak +{:.1} MiB, served during {}, after {}",
        probe.name(),
        measured.answers,
        measured.idle_rss as f64 / 1048576.0,
        measured.peak_above_idle_mib(),
        measured.served_during,
        measured.served_after
    );
    assert!(
        measured.served_after,
        "a normal client is served after the probe"
    );
    assert!(
        measured.peak_above_idle_mib() <= OVERHEAD_MIB,
        "peak RSS {:.1} MiB above idle, more than {OVERHEAD_MIB}",
        measured.peak_above_idle_mib()
    );
    measured
}

#[test]
fn nine_million_empty_spans_are_refused_before_decoding() {
    let m = run(Probe::EmptySpans18Mb);
    assert_eq!(m.answers, vec![413]);
    assert!(m.served_during);
}

#[test]
fn two_million_empty_spans_over_grpc_are_invalid_argument() {
    let m = run(Probe::EmptySpans4MbGrpc);
    assert_eq!(m.answers, vec![3], "INVALID_ARGUMENT");
    assert!(m.served_during);
}

#[test]
fn a_million_attributes_on_one_span_are_refused() {
    let m = run(Probe::MillionAttributes);
    assert_eq!(m.answers, vec![400]);
    assert!(m.served_during);
}

#[test]
fn stalled_uploads_are_bounded_by_the_budget() {
    run(Probe::StalledUploads);
}

#[test]
fn unfinished_grpc_messages_are_bounded_by_the_budget() {
    let m = run(Probe::UnfinishedGrpcStreams);
    assert!(
        m.answers[0] > 0,
        "streams past the budget are refused at once"
    );
}

#[test]
fn deep_nesting_is_refused_in_protobuf_and_json() {
    let m = run(Probe::DeepNesting);
    assert_eq!(m.answers, vec![400, 400]);
    assert!(m.served_during);
}

#[test]
fn compression_bombs_are_not_inflated_past_the_limit() {
    let m = run(Probe::CompressionBombs);
    assert!(
        m.answers.iter().all(|s| *s == 413 || *s == 429),
        "{:?}",
        m.answers
    );
    assert!(m.served_during);
}
