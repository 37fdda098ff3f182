//! `nab_score`: scores detector outputs on NAB's files with the project's scorer
//! (`sentinel_tests::nab`). Prints, per profile, the sweep (best threshold over every
//! distinct `anomaly_score`) and, with `--honest`, the score of the `label` column as the
//! detections; per category and over the corpus.
//!
//! ```text
//! nab_score --nab DIR --results DIR [--prefix numenta_] [--honest]
//! ```
//! `--nab` holds `data/<category>/<file>.csv` and `labels/combined_windows.json`; a result
//! is `RESULTS/<category>/<prefix><file>` or `RESULTS/<prefix><file>`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use sentinel_tests::nab::{read_column, read_windows, Profile, Scored, PROFILES};

#[derive(Parser)]
struct Args {
    /// NAB directory with data/ and labels/.
    #[arg(long)]
    nab: PathBuf,
    /// Directory of the detector's outputs.
    #[arg(long)]
    results: PathBuf,
    /// File name prefix of the outputs (NAB's own: `<detector>_`).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Also score the `label` column as the detections (the fixed-threshold number).
    #[arg(long)]
    honest: bool,
}

/// One result file's rows: timestamps, scores, labels.
type Rows = (Vec<String>, Vec<f64>, Option<Vec<f64>>);

fn result_path(args: &Args, file: &str) -> anyhow::Result<PathBuf> {
    let (category, name) = file.split_once('/').context("labels: category/file")?;
    let nested = args
        .results
        .join(category)
        .join(format!("{}{name}", args.prefix));
    let flat = args.results.join(format!("{}{name}", args.prefix));
    Ok(if nested.exists() { nested } else { flat })
}

fn load(args: &Args, file: &str) -> anyhow::Result<Rows> {
    let path = result_path(args, file)?;
    let (timestamps, scores) = read_column(&path, "anomaly_score")?;
    let labels = if args.honest {
        Some(read_column(&path, "label")?.1)
    } else {
        None
    };
    Ok((timestamps, scores, labels))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let windows = read_windows(&args.nab.join("labels/combined_windows.json"))?;
    let mut rows = BTreeMap::new();
    for file in windows.keys() {
        if !args.nab.join("data").join(file).exists() {
            continue; // a category kept aside
        }
        rows.insert(file.clone(), load(&args, file)?);
    }
    if rows.is_empty() {
        bail!("no NAB data files under {}", args.nab.display());
    }
    println!("files: {}", rows.len());
    for profile in PROFILES {
        report(profile, &rows, &windows);
    }
    Ok(())
}

fn report(
    profile: Profile,
    rows: &BTreeMap<String, Rows>,
    windows: &BTreeMap<String, Vec<(String, String)>>,
) {
    let category_of = |f: &str| f.split('/').next().unwrap_or("").to_string();
    let mut sweep: BTreeMap<String, Scored> = BTreeMap::new();
    let mut honest: BTreeMap<String, Scored> = BTreeMap::new();
    for (file, (ts, scores, labels)) in rows {
        for key in ["ALL".to_string(), category_of(file)] {
            sweep
                .entry(key.clone())
                .or_default()
                .add_file(ts, scores, &windows[file], profile);
            if let Some(labels) = labels {
                honest
                    .entry(key)
                    .or_default()
                    .add_file(ts, labels, &windows[file], profile);
            }
        }
    }
    let (threshold, raw) = sweep["ALL"].sweep(profile);
    println!(
        "\n{}: sweep {:.2} (threshold {threshold:.4}, raw {raw:.3}, windows {})",
        profile.name,
        sweep["ALL"].normalize(raw, profile),
        sweep["ALL"].windows
    );
    for (category, scored) in &sweep {
        // A category without windows has no normalised score: show its raw FP cost.
        let shown = |s: &Scored, raw: f64| {
            if s.windows == 0 {
                format!("{:>7}", "n/a")
            } else {
                format!("{:>7.2}", s.normalize(raw, profile))
            }
        };
        let at = scored.total_at(threshold, profile);
        let mut line = format!(
            "  {category:<22} sweep {} (raw {at:>8.3})",
            shown(scored, at)
        );
        if let Some(h) = honest.get(category) {
            let raw = h.total_at(0.5, profile);
            line += &format!("  honest {} (raw {raw:>8.3})", shown(h, raw));
        }
        println!("{line}");
    }
}
