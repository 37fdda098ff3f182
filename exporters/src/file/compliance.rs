use std::path::{Path, PathBuf};

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::FileFactory;
use crate::sending::compliance::start_for_compliance;

/// Items in one OTLP/JSON line of `signal`; a line that does not parse fails the test.
fn line_items(signal: Signal, line: &str) -> usize {
    let payload = match signal {
        Signal::Traces => {
            serde_json::from_str::<ExportTraceServiceRequest>(line).map(Payload::Traces)
        }
        Signal::Metrics => {
            serde_json::from_str::<ExportMetricsServiceRequest>(line).map(Payload::Metrics)
        }
        Signal::Logs => serde_json::from_str::<ExportLogsServiceRequest>(line).map(Payload::Logs),
    };
    payload
        .unwrap_or_else(|e| panic!("file: a written line is not OTLP/JSON {signal}: {e}"))
        .item_count()
}

/// Items in every file of `dir` (the current file and any rotated ones).
fn items_in(dir: &Path, signal: Signal) -> u64 {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files
        .iter()
        .map(|file| std::fs::read_to_string(file).expect("read a written file"))
        .flat_map(|text| {
            text.lines()
                .map(|line| line_items(signal, line) as u64)
                .collect::<Vec<_>>()
        })
        .sum()
}

#[tokio::test]
async fn file_meets_the_exporter_contract() {
    for signal in Signal::ALL {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let config = format!("path: {}\n", out.join("data.jsonl").display());
        ExporterCompliance::new(&FileFactory, &config, signal, start_for_compliance)
            .delivered_items(Box::new(move || {
                let out = out.clone();
                Box::pin(async move { items_in(&out, signal) })
            }))
            .run()
            .await;
    }
}
