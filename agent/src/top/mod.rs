//! `sentinel top` and `sentinel tap`: clients of the admin address
//! (`service.telemetry.metrics.address`). `top` polls `/api/v1/status` and draws rates from
//! consecutive snapshots; `tap` prints `/api/v1/tap` samples as OTLP/JSON lines.

pub mod client;
pub mod render;
pub mod snapshot;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use client::{AdminClient, ClientError};
use snapshot::Snapshot;

/// Where the agent's admin address is and how to authenticate.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The agent's admin address (`service.telemetry.metrics.address`), `HOST:PORT`.
    #[arg(long, default_value = "127.0.0.1:8888")]
    pub admin: String,
    /// File holding the admin bearer token (default: the file `SENTINEL_ADMIN_TOKEN_FILE`
    /// names, if set).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Time between two readings (`1s`, `500ms`).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Print one plain-text reading (rates over one interval) and exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct TapArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// The component id (`otlp`, `batch`, `forward/split`, `file/out`).
    pub component: String,
    /// For a receiver or connector feeding several pipelines: the pipeline (`traces/b`).
    #[arg(long)]
    pub output: Option<String>,
    /// Stop after this many items (spans, metrics, log records); the agent's
    /// `tap.max_items` caps each request.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Most items per second (the agent's `tap.max_items_per_second` caps it).
    #[arg(long)]
    pub rate: Option<u64>,
}

const STATUS: &str = "/api/v1/status";

fn fetch(client: &AdminClient) -> Result<Snapshot, ClientError> {
    let body = client.get(STATUS, Duration::from_secs(10))?;
    Ok(serde_json::from_str(&body)?)
}

/// `sentinel top`.
pub fn top(args: &TopArgs) -> ExitCode {
    match run_top(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sentinel top: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run_top(args: &TopArgs) -> Result<(), ClientError> {
    let client = AdminClient::new(&args.admin.admin, args.admin.token_file.as_deref())?;
    let mut previous = fetch(&client)?;
    if args.once {
        std::thread::sleep(args.interval);
        let current = fetch(&client)?;
        print!("{}", render::render(&previous, &current));
        return Ok(());
    }
    let mut stdout = std::io::stdout();
    loop {
        let next = Instant::now() + args.interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let current = fetch(&client)?;
        // Home and clear, then the whole screen: no terminal state to restore on Ctrl-C.
        let screen = render::render(&previous, &current);
        let _ = write!(
            stdout,
            "\x1b[H\x1b[2J{screen}\n{} every {}; Ctrl-C quits.\n",
            client.address(),
            humantime::format_duration(args.interval)
        );
        let _ = stdout.flush();
        previous = current;
    }
}

/// `sentinel tap`: requests samples until `--limit` items were printed (or forever).
pub fn tap(args: &TapArgs) -> ExitCode {
    match run_tap(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sentinel tap: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run_tap(args: &TapArgs) -> Result<(), ClientError> {
    let client = AdminClient::new(&args.admin.admin, args.admin.token_file.as_deref())?;
    let mut printed = 0u64;
    let mut stdout = std::io::stdout();
    loop {
        let mut path = format!("/api/v1/tap?component={}", encode(&args.component));
        if let Some(output) = &args.output {
            path.push_str(&format!("&output={}", encode(output)));
        }
        if let Some(limit) = args.limit {
            path.push_str(&format!("&limit={}", limit - printed));
        }
        if let Some(rate) = args.rate {
            path.push_str(&format!("&rate={rate}"));
        }
        let body = client.get(&path, Duration::from_secs(40))?;
        for line in body.lines().filter(|l| !l.is_empty()) {
            printed += items_in(line);
            if writeln!(stdout, "{line}").is_err() {
                return Ok(()); // the reader went away (`| head`)
            }
        }
        let _ = stdout.flush();
        if args.limit.is_some_and(|limit| printed >= limit) {
            return Ok(());
        }
    }
}

/// Items in one OTLP/JSON line, counted as the agent counts them.
fn items_in(line: &str) -> u64 {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
        return 0;
    };
    let count = |groups: &str, scopes: &str, items: &str| -> u64 {
        value[groups]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g[scopes].as_array().into_iter().flatten())
            .map(|s| s[items].as_array().map_or(0, |a| a.len() as u64))
            .sum()
    };
    count("resourceSpans", "scopeSpans", "spans")
        + count("resourceMetrics", "scopeMetrics", "metrics")
        + count("resourceLogs", "scopeLogs", "logRecords")
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
