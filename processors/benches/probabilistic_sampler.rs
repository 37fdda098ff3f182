//! Cost of the `probabilistic_sampler` per span: deciding 1,000 spans with random trace
//! IDs at 25% and writing `ot=th:c` on the kept ones, per mode.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_processors::probabilistic_sampler::{
    sample_traces, ProbabilisticSamplerConfig, Sampler, SamplerMode,
};

const SPANS: u64 = 1_000;

fn request(trace_state: &str) -> ExportTraceServiceRequest {
    let mut state = 7u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let spans = (0..SPANS)
        .map(|i| {
            let mut trace_id = next().to_be_bytes().to_vec();
            trace_id.extend(next().to_be_bytes());
            Span {
                trace_id,
                span_id: (i + 1).to_be_bytes().to_vec(),
                name: format!("span{i}"),
                trace_state: trace_state.to_string(),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn sampler(c: &mut Criterion) {
    let mut group = c.benchmark_group("probabilistic_sampler 1000 spans at 25%");
    group.throughput(Throughput::Elements(SPANS));
    let cases = [
        ("proportional", SamplerMode::Proportional, ""),
        (
            "equalizing, upstream th:8",
            SamplerMode::Equalizing,
            "ot=th:8,vendor=x",
        ),
        ("hash_seed", SamplerMode::HashSeed, ""),
    ];
    for (name, mode, trace_state) in cases {
        let sampler = Sampler::new(&ProbabilisticSamplerConfig {
            sampling_percentage: 25.0,
            mode: Some(mode),
            ..Default::default()
        });
        let input = request(trace_state);
        group.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |mut req| sample_traces(&sampler, &mut req),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, sampler);
criterion_main!(benches);
