//! Runs every hostile-input probe against fresh agents started from `--sentinel` and
//! prints one Markdown table row per probe: answers, idle and peak RSS, and whether a
//! normal client was served during and after. Used by `tests/bench/probes.sh`.

use std::path::PathBuf;

use clap::Parser;
use sentinel_tests::probes::{measure, Probe};

#[derive(Debug, Parser)]
struct Args {
    /// The agent binary to probe.
    #[arg(long)]
    sentinel: PathBuf,
    /// Its config (the shipped default unless given).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A label for the table's first column.
    #[arg(long, default_value = "agent")]
    label: String,
}

fn main() {
    let args = Args::parse();
    let config = args
        .config
        .unwrap_or_else(|| sentinel_tests::workspace_root().join("config/default.yaml"));
    let dir = tempfile::tempdir().expect("temp dir");
    for probe in Probe::ALL {
        let m = measure(&args.sentinel, &config, dir.path(), probe);
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} |",
            args.label,
            probe.name(),
            summary(&m.answers),
            m.idle_rss as f64 / 1048576.0,
            m.peak_rss as f64 / 1048576.0,
            m.peak_above_idle_mib(),
            m.served_during,
            m.served_after
        );
    }
}

/// `[413, 413, 429]` as `413 x2, 429`.
fn summary(answers: &[u32]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for answer in answers {
        *counts.entry(answer).or_insert(0) += 1;
    }
    counts
        .iter()
        .map(|(answer, n)| match n {
            1 => answer.to_string(),
            n => format!("{answer} x{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
