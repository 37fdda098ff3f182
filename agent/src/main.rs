//! The `sentinel` binary. Errors become exit codes here and nowhere else.

use std::process::ExitCode;

use clap::Parser;
use sentinel_agent::cli::{self, Cli, Command, DbCommand, QueueCommand};
use sentinel_agent::components::Registry;
use sentinel_agent::hook;
use sentinel_agent::{logging, runtime};

fn main() -> ExitCode {
    // `hook` runs on every tool call of a coding agent: its options are parsed alone, before
    // the whole command line, the logger, the runtime or the registry exist.
    if let Some(code) = hook::fast_path() {
        return code;
    }
    let cli = Cli::parse();
    // `hook install|uninstall`, `hook --help`: still before building anything.
    if let Command::Hook { command, args } = &cli.command {
        return match command {
            None => hook::run(args),
            Some(settings) => cli::hook_settings(settings),
        };
    }
    let registry = Registry::builtin();
    match cli.command {
        Command::Run {
            configs,
            watch_config,
            watch_config_interval,
        } => {
            let options = runtime::ReloadOptions {
                watch: watch_config.then_some(watch_config_interval),
                configs,
            };
            run(options, registry)
        }
        Command::Validate { configs } => cli::validate(&configs, &registry),
        Command::PrintConfig { configs } => cli::print_config(&configs, &registry),
        Command::Test { configs } => sentinel_agent::config_tests::run_cli(&configs, &registry),
        Command::Components => cli::components(&registry),
        Command::Version => {
            println!("sentinel {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Queue {
            command: QueueCommand::Inspect { directory },
        } => cli::queue_inspect(&directory),
        Command::Db {
            command: DbCommand::Migrate { configs },
        } => cli::db_migrate(&configs, &registry),
        Command::Anomaly {
            command: cli::AnomalyCommand::Backtest(args),
        } => sentinel_agent::anomaly_backtest::backtest(&args, &registry),
        Command::Alerts { command } => sentinel_agent::alerts::run(command),
        Command::Policy {
            command: cli::PolicyCommand::Check { file },
        } => sentinel_agent::policy::check::run(&file),
        Command::Top(args) => sentinel_agent::top::top(&args),
        Command::Tap(args) => sentinel_agent::top::tap(&args),
        Command::Hook { .. } => unreachable!("handled above"),
    }
}

fn run(options: runtime::ReloadOptions, registry: Registry) -> ExitCode {
    let Some(config) = cli::load_checked(&options.configs, &registry) else {
        return ExitCode::FAILURE;
    };
    let logs = &config.service.telemetry.logs;
    logging::init(&logs.level, logs.encoding);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    limit_malloc_arenas(workers);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .thread_name("sentinel")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(runtime::run(config, registry, options, shutdown_signal()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Once: through the log when it shows errors, else straight to stderr.
            if tracing::enabled!(tracing::Level::ERROR) {
                tracing::error!("Sentinel failed to start: {err}");
            } else {
                let err = sentinel_pipeline::config::redact::redact_text(&err.to_string());
                eprintln!("error: Sentinel failed to start: {err}");
            }
            ExitCode::FAILURE
        }
    }
}

/// glibc gives threads that allocate at the same time arenas of their own, up to eight per
/// core, and each arena keeps the memory freed into it. One arena per runtime worker is
/// enough for tokio's few threads and keeps about 1.3 MiB less resident on an idle host
/// agent (tests/bench/host_bench.sh). `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas(workers: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let arenas = i32::try_from(workers).unwrap_or(i32::MAX);
        // SAFETY: mallopt only changes an allocator setting; no thread allocates yet
        // concurrently (the runtime is not started).
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::error!(error = %err, "Cannot listen for SIGTERM; only SIGINT stops the agent.");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received."),
        _ = terminate.recv() => tracing::info!("SIGTERM received."),
    }
}
