//! Command-line interface: `run`, `validate`, `print-config`, `components`, `version` and
//! `queue inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sentinel_pipeline::config::{Diagnostic, Severity};

use crate::components::Registry;
use crate::config::{self, AgentConfig};

#[derive(Debug, Parser)]
#[command(name = "sentinel", about = "Per-host OpenTelemetry agent", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipelines. Without --config, runs the embedded config/default.yaml.
    Run {
        /// Config files, merged in order.
        #[arg(long = "config", short = 'c')]
        configs: Vec<PathBuf>,
    },
    /// Check config files; prints FILE:LINE:COL: message per problem, exits 1 on errors.
    Validate {
        #[arg(long = "config", short = 'c', required = true)]
        configs: Vec<PathBuf>,
    },
    /// Print the effective config after env expansion, with secrets redacted.
    PrintConfig {
        #[arg(long = "config", short = 'c')]
        configs: Vec<PathBuf>,
    },
    /// List every component type with its kind and signals.
    Components,
    /// Print the version.
    Version,
    /// Disk queue tools.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Database tools for the `postgres` exporter.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Run the schema migrations of every `postgres` exporter in the config; exits 1 if
    /// any fails.
    Migrate {
        #[arg(long = "config", short = 'c', required = true)]
        configs: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Print segments, record counts, cursor, bytes used and the oldest record's age.
    Inspect { directory: PathBuf },
}

/// Loads and validates; prints every diagnostic to stderr. `None` when there are errors.
pub fn load_checked(configs: &[PathBuf], registry: &Registry) -> Option<AgentConfig> {
    let env = |name: &str| std::env::var(name).ok();
    let (config, diagnostics) = config::load_and_validate(configs, &env, registry);
    print_diagnostics(&diagnostics);
    let has_errors = diagnostics.iter().any(|d| d.severity == Severity::Error);
    if has_errors {
        None
    } else {
        config
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        eprintln!("{diagnostic}");
    }
}

pub fn validate(configs: &[PathBuf], registry: &Registry) -> ExitCode {
    match load_checked(configs, registry) {
        Some(_) => {
            println!("config is valid");
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

pub fn print_config(configs: &[PathBuf], registry: &Registry) -> ExitCode {
    match load_checked(configs, registry) {
        Some(config) => {
            print!("{}", config::render_effective(&config, registry));
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

pub fn components(registry: &Registry) -> ExitCode {
    println!(
        "{:<12} {:<20} {:<24} DESCRIPTION",
        "KIND", "TYPE", "SIGNALS"
    );
    for factory in registry.all() {
        let info = factory.info();
        let signals: Vec<&str> = info.signals.iter().map(|s| s.as_str()).collect();
        println!(
            "{:<12} {:<20} {:<24} {}",
            info.kind.as_str(),
            info.type_name,
            signals.join(","),
            info.description
        );
    }
    ExitCode::SUCCESS
}

pub fn queue_inspect(directory: &std::path::Path) -> ExitCode {
    match sentinel_exporters::sending::inspect(directory) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cannot inspect queue {}: {err}", directory.display());
            ExitCode::FAILURE
        }
    }
}

/// `sentinel db migrate`: migrates the schema of every `postgres` exporter.
pub fn db_migrate(configs: &[PathBuf], registry: &Registry) -> ExitCode {
    let Some(config) = load_checked(configs, registry) else {
        return ExitCode::FAILURE;
    };
    let targets: Vec<_> = config
        .exporters
        .iter()
        .filter(|(id, _)| id.type_name == "postgres")
        .collect();
    if targets.is_empty() {
        eprintln!("the config has no postgres exporter");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for (id, node) in targets {
        match runtime.block_on(sentinel_exporters::postgres::migrate(node)) {
            Ok(report) if report.applied.is_empty() => {
                println!("{id}: schema up to date (version {})", report.version)
            }
            Ok(report) => println!(
                "{id}: applied migrations {:?}; schema at version {}",
                report.applied, report.version
            ),
            Err(err) => {
                eprintln!("{id}: {err}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
