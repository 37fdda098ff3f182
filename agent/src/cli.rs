//! Command-line interface: `run`, `validate`, `print-config`, `components`, `version`,
//! `queue inspect`, `db migrate`, `hook` and `alerts`.

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
        /// Reload when a config file changes (polled by content, so Kubernetes ConfigMap
        /// mounts work). SIGHUP and `POST /-/reload` reload without it.
        #[arg(long)]
        watch_config: bool,
        /// How often `--watch-config` reads the files.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        watch_config_interval: std::time::Duration,
    },
    /// Check config files; prints FILE:LINE:COL: message per problem, exits 1 on errors.
    Validate {
        /// Config files, merged in order (as `run` would merge them).
        #[arg(long = "config", short = 'c', required = true)]
        configs: Vec<PathBuf>,
    },
    /// Print the effective config after env expansion, with secrets redacted.
    PrintConfig {
        /// Config files, merged in order; none prints the embedded default.
        #[arg(long = "config", short = 'c')]
        configs: Vec<PathBuf>,
    },
    /// Run the config's `tests:` section against its processors and connectors, without
    /// opening any port; exits 0 when all pass, 1 on a failure, 2 on config errors.
    Test {
        /// Config files, merged in order (as `run` would merge them).
        #[arg(long = "config", short = 'c', required = true)]
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
    /// Handle one coding-agent hook event from stdin: decide on the local policy (exit 2
    /// on deny), forward it to the agent, spool it if the agent is down. Or install the
    /// hooks into Claude Code's settings.
    #[command(args_conflicts_with_subcommands = true)]
    Hook {
        #[command(subcommand)]
        command: Option<HookCommand>,
        #[command(flatten)]
        args: crate::hook::HookArgs,
    },
    /// Hook-policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Alerting tools: Prometheus rule files (`check` and `test`, as promtool has them) and
    /// silences of the notification exporters.
    Alerts {
        #[command(subcommand)]
        command: crate::alerts::AlertsCommand,
    },
    /// Live view of a running agent over its admin address: rates, refusals and drops
    /// with reasons, queues, exporter health, CPU and RSS, top services, LLM cost, alerts.
    Top(crate::top::TopArgs),
    /// Print a live sample of what flows out of a component, as OTLP/JSON lines (the
    /// agent must enable `service.telemetry.metrics.tap`).
    Tap(crate::top::TapArgs),
    /// Anomaly detector tools.
    Anomaly {
        #[command(subcommand)]
        command: AnomalyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a hook-policy file; prints FILE:LINE:COL: message per problem, exits 1 on
    /// errors.
    Check {
        /// The policy file (the shipped one is config/hook-policy.yaml).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AnomalyCommand {
    /// Score CSV series with the `anomaly` connector's detector, as configured.
    Backtest(crate::anomaly_backtest::BacktestArgs),
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Add Sentinel's hook to every event in Claude Code's settings.json (idempotent;
    /// keeps a backup; other hooks are left alone).
    Install {
        #[command(flatten)]
        scope: HookScope,
        /// `command` runs `sentinel hook`; `http` posts to the hooks receiver.
        #[arg(long, value_enum, default_value = "command")]
        mode: crate::hook::install::Mode,
        /// The hooks receiver, for `--mode http`.
        #[arg(long, default_value = crate::hook::DEFAULT_ENDPOINT)]
        endpoint: String,
    },
    /// Remove exactly the entries `install` added.
    Uninstall {
        #[command(flatten)]
        scope: HookScope,
        /// The hooks receiver an `--mode http` install pointed at.
        #[arg(long, default_value = crate::hook::DEFAULT_ENDPOINT)]
        endpoint: String,
    },
}

/// Which settings.json: the user's (default) or a project's.
#[derive(Debug, clap::Args)]
pub struct HookScope {
    /// ~/.claude/settings.json (the default).
    #[arg(long, conflicts_with = "project")]
    pub user: bool,
    /// DIR/.claude/settings.json.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Run the schema migrations of every `postgres` exporter in the config; exits 1 if
    /// any fails.
    Migrate {
        /// Config files holding the `postgres` exporters, merged in order.
        #[arg(long = "config", short = 'c', required = true)]
        configs: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Print segments, record counts, cursor, bytes used and the oldest record's age.
    Inspect {
        /// One disk queue's directory: `<service.data_dir>/queues/<exporter id>` (e.g.
        /// /var/lib/sentinel/queues/otlp_backend), or the exporter's
        /// `sending_queue.directory`. Read only; safe while the agent runs.
        #[arg(value_name = "DIR")]
        directory: PathBuf,
    },
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

pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        // A message may quote a value: an endpoint's credentials stay hidden.
        let line = diagnostic.to_string();
        eprintln!("{}", sentinel_pipeline::config::redact::redact_text(&line));
    }
}

pub fn validate(configs: &[PathBuf], registry: &Registry) -> ExitCode {
    match load_checked(configs, registry) {
        // The agent ignores `tests:`; validate checks it as `sentinel test` reads it.
        Some(config) if !crate::config_tests::diagnostics(&config).is_empty() => {
            print_diagnostics(&crate::config_tests::diagnostics(&config));
            ExitCode::FAILURE
        }
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
    // The type column is as wide as the longest type name, so the columns stay aligned.
    let width = registry
        .all()
        .iter()
        .map(|f| f.info().type_name.len())
        .max()
        .unwrap_or(0)
        .max("TYPE".len());
    println!(
        "{:<12} {:<width$} {:<24} DESCRIPTION",
        "KIND", "TYPE", "SIGNALS"
    );
    for factory in registry.all() {
        let info = factory.info();
        let signals: Vec<&str> = info.signals.iter().map(|s| s.as_str()).collect();
        println!(
            "{:<12} {:<width$} {:<24} {}",
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
            // Every error names the path it is about.
            eprintln!("cannot inspect the queue: {err}");
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

/// `sentinel hook install|uninstall`.
pub fn hook_settings(command: &HookCommand) -> ExitCode {
    use crate::hook::install::{self, Mode};
    let sentinel = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sentinel"));
    let executable = install::hook_executable(&sentinel);
    let (scope, result, verb) = match command {
        HookCommand::Install {
            scope,
            mode,
            endpoint,
        } => {
            let handler = install::handler(*mode, &executable, endpoint);
            let result = install::settings_path(scope.project.as_deref())
                .and_then(|path| install::install(&path, &handler).map(|n| (path, n)));
            (scope, result, "added to")
        }
        HookCommand::Uninstall { scope, endpoint } => {
            let ours = [
                install::handler(Mode::Command, &executable, endpoint),
                install::handler(Mode::Http, &executable, endpoint),
            ];
            let result = install::settings_path(scope.project.as_deref())
                .and_then(|path| install::uninstall(&path, &ours).map(|n| (path, n)));
            (scope, result, "removed from")
        }
    };
    let _ = scope.user; // the default scope; the flag exists for explicitness
    match result {
        Ok((path, count)) => {
            println!("{count} hook entries {verb} {}", path.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
