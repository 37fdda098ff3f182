//! `sentinel test --config FILE...`: runs the config's `tests:` section (Vector's unit-test
//! idea with the Collector's component ids) against the config's own processors and
//! connectors, without opening any network port: receivers and exporters are never built
//! ([`harness`]). Exit 0 when every test passes, 1 when one fails (with the field's
//! OTLP/JSON path, expected and actual), 2 when the config or its tests are invalid.

mod expect;
mod harness;
mod resolve;
pub mod spec;
#[cfg(test)]
mod tests;
mod view;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sentinel_pipeline::config::Diagnostic;

use crate::components::Registry;
use crate::config::{self, AgentConfig};
use harness::{Emitted, Harness};
use resolve::PlannedTest;

/// Exit code for a config (or `tests:` section) that cannot be run.
const CONFIG_ERROR: u8 = 2;

/// Problems in the `tests:` section, for `sentinel validate` (empty when there is none).
pub fn diagnostics(config: &AgentConfig) -> Vec<Diagnostic> {
    match plan(config) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

fn plan(config: &AgentConfig) -> Result<Vec<PlannedTest>, Vec<Diagnostic>> {
    let Some(node) = &config.tests else {
        return Ok(Vec::new());
    };
    let specs = spec::decode(node)?;
    resolve::plan(config, specs)
}

/// The outcome of one test.
pub struct TestReport {
    pub name: String,
    /// Per failing `outputs` entry: its description and its failures.
    pub failures: Vec<(String, Vec<expect::Failure>)>,
}

/// `sentinel test`.
pub fn run_cli(configs: &[PathBuf], registry: &Registry) -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let (config, diagnostics) = config::load_and_validate(configs, &env, registry);
    crate::cli::print_diagnostics(&diagnostics);
    let Some(config) = config else {
        return ExitCode::from(CONFIG_ERROR);
    };
    let planned = match plan(&config) {
        Ok(planned) if planned.is_empty() => {
            eprintln!("the config has no `tests:` section; nothing to run");
            return ExitCode::from(CONFIG_ERROR);
        }
        Ok(planned) => planned,
        Err(problems) => {
            crate::cli::print_diagnostics(&problems);
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    let reports = match run_all(&config, registry, &planned) {
        Ok(reports) => reports,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    print_reports(&reports);
    if reports.iter().all(|r| r.failures.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Why the tests could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot build the pipelines: {0}")]
    Build(#[from] sentinel_pipeline::BuildError),
    #[error("cannot create a scratch data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs every test on a fresh graph: no state carries over from one test to the next.
pub fn run_all(
    config: &AgentConfig,
    registry: &Registry,
    planned: &[PlannedTest],
) -> Result<Vec<TestReport>, RunError> {
    // Components that spawn timers need a runtime to exist; it never runs them (the
    // harness is synchronous), so no timer fires during a test.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let _entered = runtime.enter();
    let scratch = ScratchDir::new()?;
    let mut reports = Vec::new();
    for (index, test) in planned.iter().enumerate() {
        let data_dir = scratch.path.join(index.to_string());
        sentinel_pipeline::private_fs::create_private_dir_all(&data_dir).map_err(|source| {
            RunError::DataDir {
                path: data_dir.clone(),
                source,
            }
        })?;
        let mut harness = Harness::build(config, registry, &data_dir)?;
        for (target, payload) in &test.inputs {
            let entry = resolve::entry(&harness, target);
            harness.inject(&entry, payload);
        }
        let emitted = harness.finish();
        reports.push(report(test, &emitted));
    }
    Ok(reports)
}

fn report(test: &PlannedTest, emitted: &[Emitted]) -> TestReport {
    let mut failures = Vec::new();
    for (target, spec) in &test.outputs {
        let chosen: Vec<&Emitted> = emitted
            .iter()
            .filter(|e| target.selects(e) && spec.signal.is_none_or(|s| e.payload.signal() == s))
            .collect();
        let found = expect::check(spec, &chosen);
        if !found.is_empty() {
            failures.push((target.describe(), found));
        }
    }
    TestReport {
        name: test.name.clone(),
        failures,
    }
}

fn print_reports(reports: &[TestReport]) {
    for report in reports {
        if report.failures.is_empty() {
            println!("test {:?} ... ok", report.name);
            continue;
        }
        println!("test {:?} ... FAILED", report.name);
        for (output, failures) in &report.failures {
            println!("    output of {output}:");
            for failure in failures {
                println!("      {failure}");
            }
        }
    }
    let failed = reports.iter().filter(|r| !r.failures.is_empty()).count();
    println!(
        "{} tests: {} passed, {failed} failed",
        reports.len(),
        reports.len() - failed
    );
}

/// A private scratch `data_dir` for state some components keep (tail_sampling's ledger,
/// alert_rules' for-state), removed afterwards so a test never touches the real one.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new() -> Result<ScratchDir, RunError> {
        let path = std::env::temp_dir().join(format!("sentinel-test-{}", std::process::id()));
        sentinel_pipeline::private_fs::create_private_dir_all(&path).map_err(|source| {
            RunError::DataDir {
                path: path.clone(),
                source,
            }
        })?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The directory of the file a node was written in (inputs' `file` is relative to it).
fn directory_of(file: &str) -> &Path {
    Path::new(file).parent().unwrap_or(Path::new("."))
}
