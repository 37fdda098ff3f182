//! `sentinel anomaly backtest`: runs the `anomaly` connector's detector, configured as in a
//! config file, over CSV files in NAB's format and writes one scored CSV per input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sentinel_processors::anomaly::{backtest_csv, AnomalyConfig, BacktestError, Detector};

use crate::cli::load_checked;
use crate::components::Registry;

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Config files holding the `anomaly` connector, merged in order.
    #[arg(long = "config", short = 'c', required = true)]
    pub configs: Vec<PathBuf>,
    /// Which connector, `anomaly/NAME` (or `anomaly`); needed when the config has several.
    #[arg(long)]
    pub component: Option<String>,
    /// Input CSV files: `timestamp,value`, a header, oldest first.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Output directory: DIR/<input file name>, `timestamp,value,anomaly_score,label`.
    #[arg(long)]
    pub output: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestCommandError {
    #[error("the config has no anomaly connector")]
    NoConnector,
    #[error("the config has several anomaly connectors ({0}); choose one with --component")]
    Ambiguous(String),
    #[error("the config has no connector {0}")]
    NotFound(String),
    #[error("{id}: {message}")]
    Config { id: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Input {
        path: PathBuf,
        source: BacktestError,
    },
}

/// The connector's config chosen by `--component`.
fn connector_config(
    args: &BacktestArgs,
    registry: &Registry,
) -> Result<Option<AnomalyConfig>, BacktestCommandError> {
    let Some(config) = load_checked(&args.configs, registry) else {
        return Ok(None);
    };
    let candidates: Vec<_> = config
        .connectors
        .iter()
        .filter(|(id, _)| id.type_name == "anomaly")
        .collect();
    let chosen = match &args.component {
        Some(wanted) => candidates
            .iter()
            .find(|(id, _)| id.to_string() == *wanted)
            .ok_or_else(|| BacktestCommandError::NotFound(wanted.clone()))?,
        None => match candidates.as_slice() {
            [] => return Err(BacktestCommandError::NoConnector),
            [one] => one,
            many => {
                let ids: Vec<String> = many.iter().map(|(id, _)| id.to_string()).collect();
                return Err(BacktestCommandError::Ambiguous(ids.join(", ")));
            }
        },
    };
    let (id, node) = chosen;
    sentinel_pipeline::config::decode_valid::<AnomalyConfig>(node)
        .map(Some)
        .map_err(|diagnostics| BacktestCommandError::Config {
            id: id.to_string(),
            message: diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        })
}

fn score_file(
    detector: &Detector,
    input: &Path,
    output: &Path,
) -> Result<(), BacktestCommandError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BacktestCommandError::Io { path, source }
    };
    let text = std::fs::read_to_string(input).map_err(io(input))?;
    let scored = backtest_csv(detector, &text).map_err(|source| BacktestCommandError::Input {
        path: input.to_path_buf(),
        source,
    })?;
    let name = input.file_name().unwrap_or(input.as_os_str());
    let target = output.join(name);
    std::fs::write(&target, scored).map_err(io(&target))
}

fn backtest_inner(args: &BacktestArgs, registry: &Registry) -> Result<bool, BacktestCommandError> {
    let Some(config) = connector_config(args, registry)? else {
        return Ok(false);
    };
    std::fs::create_dir_all(&args.output).map_err(|source| BacktestCommandError::Io {
        path: args.output.clone(),
        source,
    })?;
    let detector = Detector::new(config.detector());
    for input in &args.input {
        score_file(&detector, input, &args.output)?;
    }
    Ok(true)
}

/// `sentinel anomaly backtest`.
pub fn backtest(args: &BacktestArgs, registry: &Registry) -> ExitCode {
    match backtest_inner(args, registry) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
