//! `sentinel alerts`: rule-file tools that mirror `promtool` so teams keep their files and
//! tests — `check` (like `promtool check rules`) and `test` (like `promtool test rules`) —
//! and the silences of the notification exporters.

pub mod check;
pub mod series;
pub mod silence;
pub mod unit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Check Prometheus rule files, as `promtool check rules` does: prints
    /// FILE:LINE:COL: message per problem, exits 1 on errors.
    Check {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run promtool rule unit-test files (`rule_files`, `evaluation_interval`, `tests`),
    /// as `promtool test rules` does; exits 1 when a test fails.
    Test {
        /// Unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Silences of the notification exporters, through the running agent's admin address.
    Silence {
        #[command(subcommand)]
        command: silence::SilenceCommand,
    },
}

/// Runs one `sentinel alerts` command.
pub fn run(command: AlertsCommand) -> ExitCode {
    match command {
        AlertsCommand::Check { files } => check::run(&files),
        AlertsCommand::Test { files } => unit::run(&files),
        AlertsCommand::Silence { command } => silence::run(command),
    }
}
