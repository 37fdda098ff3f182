//! `sentinel alerts silence add|list|expire`: talks to the running agent's admin address
//! (`service.telemetry.metrics.address`), whose `/api/v2/silences` API is shaped like
//! Alertmanager's; the agent keeps the silences in `<data_dir>/silences.json`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use sentinel_exporters::notify::matchers::Matcher;
use sentinel_exporters::notify::silences::Silence;
use sentinel_exporters::notify::testing::rfc3339;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct AdminAddress {
    /// The agent's admin address (`service.telemetry.metrics.address`).
    #[arg(long, default_value = "127.0.0.1:8888")]
    pub admin: String,
    /// File holding the admin bearer token (`service.telemetry.metrics.auth`); default
    /// `$SENTINEL_ADMIN_TOKEN_FILE`.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

/// Environment variable naming the admin token file when `--token-file` is not given.
pub const ADMIN_TOKEN_FILE_ENV: &str = "SENTINEL_ADMIN_TOKEN_FILE";

impl AdminAddress {
    /// The `Authorization` header line to send (with its CRLF), empty without a token
    /// file. The token is never printed.
    pub fn authorization(&self) -> Result<String, CliError> {
        let path = match &self.token_file {
            Some(path) => path.clone(),
            None => match std::env::var_os(ADMIN_TOKEN_FILE_ENV) {
                Some(path) if !path.is_empty() => PathBuf::from(path),
                _ => return Ok(String::new()),
            },
        };
        let token = std::fs::read_to_string(&path).map_err(|source| CliError::TokenFile {
            path: path.clone(),
            source,
        })?;
        Ok(format!("Authorization: Bearer {}\r\n", token.trim()))
    }
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Add a silence; prints its id.
    Add {
        #[command(flatten)]
        address: AdminAddress,
        /// How long it lasts from its start (`2h`, `30m`).
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// RFC 3339 start (default: now).
        #[arg(long)]
        start: Option<String>,
        /// RFC 3339 end (instead of --duration).
        #[arg(long)]
        end: Option<String>,
        /// Why.
        #[arg(long, default_value = "")]
        comment: String,
        /// Who (default: $USER).
        #[arg(long)]
        author: Option<String>,
        /// Matchers: `alertname=HighCpu`, `instance=~"db-.*"`, `severity!=info`.
        #[arg(required = true)]
        matchers: Vec<String>,
    },
    /// List silences: id, state, end, matchers, comment.
    List {
        #[command(flatten)]
        address: AdminAddress,
        /// Include expired silences.
        #[arg(long)]
        expired: bool,
    },
    /// Expire silences now.
    Expire {
        #[command(flatten)]
        address: AdminAddress,
        /// Ids of the silences to expire, as `sentinel alerts silence list` shows them.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Why a silence command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot reach the agent's admin address {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot read the admin token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the agent answered {status}: {body}")]
    Status { status: u16, body: String },
}

pub fn run(command: SilenceCommand) -> ExitCode {
    let result = match command {
        SilenceCommand::Add {
            address,
            duration,
            start,
            end,
            comment,
            author,
            matchers,
        } => build(&matchers, start, end, duration, comment, author)
            .and_then(|silence| add(&address, &silence)),
        SilenceCommand::List { address, expired } => list(&address, expired),
        SilenceCommand::Expire { address, ids } => ids.iter().try_for_each(|id| {
            request(&address, "DELETE", &format!("/api/v2/silence/{id}"), None)
                .map(|_| println!("expired {id}"))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build(
    matchers: &[String],
    start: Option<String>,
    end: Option<String>,
    duration: Duration,
    comment: String,
    author: Option<String>,
) -> Result<Silence, CliError> {
    let invalid = |e: String| CliError::Invalid(e);
    let matchers = matchers
        .iter()
        .map(|m| Matcher::parse(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    let starts = match &start {
        Some(text) => {
            humantime::parse_rfc3339_weak(text).map_err(|e| invalid(format!("--start: {e}")))?
        }
        None => SystemTime::now(),
    };
    let ends_at = end.unwrap_or_else(|| rfc3339(starts + duration));
    let mut silence = Silence {
        id: String::new(),
        matchers,
        starts_at: rfc3339(starts),
        ends_at,
        created_by: author.unwrap_or_else(|| std::env::var("USER").unwrap_or_default()),
        comment,
    };
    silence.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(silence)
}

fn add(admin: &AdminAddress, silence: &Silence) -> Result<(), CliError> {
    let body = serde_json::to_vec(silence).unwrap_or_default();
    let answer = request(admin, "POST", "/api/v2/silences", Some(&body))?;
    let id = answer["silenceID"].as_str().unwrap_or_default();
    println!("{id}");
    Ok(())
}

fn list(admin: &AdminAddress, expired: bool) -> Result<(), CliError> {
    let answer = request(admin, "GET", "/api/v2/silences", None)?;
    println!(
        "{:<34} {:<8} {:<25} {:<40} COMMENT",
        "ID", "STATE", "ENDS", "MATCHERS"
    );
    for silence in answer.as_array().into_iter().flatten() {
        let state = silence["status"]["state"].as_str().unwrap_or("");
        if state == "expired" && !expired {
            continue;
        }
        let matchers: Vec<String> =
            serde_json::from_value::<Vec<Matcher>>(silence["matchers"].clone())
                .unwrap_or_default()
                .iter()
                .map(Matcher::to_string)
                .collect();
        println!(
            "{:<34} {:<8} {:<25} {:<40} {}",
            silence["id"].as_str().unwrap_or(""),
            state,
            silence["endsAt"].as_str().unwrap_or(""),
            matchers.join(","),
            silence["comment"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}

/// One blocking HTTP/1.1 exchange with the admin address; the answer's JSON body.
fn request(
    address: &AdminAddress,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Value, CliError> {
    let authorization = address.authorization()?;
    let admin = address.admin.as_str();
    let request = crate::top::client::AdminRequest {
        method,
        path,
        headers: &authorization,
        body: Some(body.unwrap_or_default()),
        read_timeout: Duration::from_secs(10),
    };
    let (status, body) =
        crate::top::client::exchange(admin, &request).map_err(|source| CliError::Connect {
            address: admin.to_string(),
            source,
        })?;
    let body = body.as_str();
    if !(200..300).contains(&status) {
        return Err(CliError::Status {
            status,
            body: body.trim().to_string(),
        });
    }
    Ok(serde_json::from_str(body).unwrap_or(Value::Null))
}
