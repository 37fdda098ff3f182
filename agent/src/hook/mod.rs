//! `sentinel hook`: the command a coding agent runs for every hook event. It decides on
//! the local policy, forwards the event to the agent, and spools it when the agent is
//! down. It must never break the coding agent, so every internal failure exits 0; only a
//! policy deny exits 2. It runs on every tool call, so it starts no async runtime and
//! reads no agent config.

pub mod install;
mod ordered;
mod send;
pub mod spool;
pub mod token;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::policy::{Action, Policy};

/// Largest event read from stdin; Claude Code's own payloads are far smaller.
const MAX_EVENT_BYTES: u64 = 1 << 20;

/// Where the receiver listens by default (the `hooks` receiver's default endpoint).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4319/v1/hooks";

/// Options of `sentinel hook` when it handles one event.
#[derive(Debug, Clone, clap::Args)]
pub struct HookArgs {
    /// The agent's hooks receiver.
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// Where events go while the agent is unreachable (default:
    /// $XDG_STATE_HOME/sentinel/hook-spool.jsonl or ~/.local/state/sentinel/hook-spool.jsonl).
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// A policy file instead of the built-in config/hook-policy.yaml.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Total time allowed for forwarding, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub timeout_ms: u64,
}

/// What the coding agent is told.
enum Verdict {
    Allow,
    Ask(String),
    Deny(String),
}

/// `sentinel hook [OPTIONS]`, parsed without building the whole command line (every
/// subcommand's parser costs start-up time on each tool call). `None` for anything else,
/// `hook install`, `--help` or a parse error included, which the full parser handles.
pub fn fast_path() -> Option<ExitCode> {
    let mut argv = std::env::args_os().skip(1);
    if argv.next()? != "hook" {
        return None;
    }
    let rest: Vec<std::ffi::OsString> = argv.collect();
    let subcommand = rest
        .first()
        .is_some_and(|a| !a.to_string_lossy().starts_with('-'));
    let help = rest.iter().any(|a| a == "-h" || a == "--help");
    if subcommand || help {
        return None;
    }
    let parsed = HookOnly::parse_from_args("sentinel hook", rest).ok()?;
    Some(run(&parsed.args))
}

/// The `sentinel-hook` binary: the same options as `sentinel hook`, parsed the same way.
pub fn standalone(args: impl Iterator<Item = std::ffi::OsString>) -> ExitCode {
    match HookOnly::parse_from_args("sentinel-hook", args) {
        Ok(parsed) => run(&parsed.args),
        Err(err) => {
            let _ = err.print();
            // Help and version are not failures; a bad option must still never block the
            // coding agent, so it allows (exit 0) after saying what was wrong.
            ExitCode::SUCCESS
        }
    }
}

/// Handle one coding-agent hook event from stdin: decide on the local policy (exit 2
/// denies), forward the event to the agent, spool it while the agent is down.
#[derive(clap::Parser)]
struct HookOnly {
    #[command(flatten)]
    args: HookArgs,
}

impl HookOnly {
    fn parse_from_args(
        name: &'static str,
        args: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> Result<HookOnly, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let command = HookOnly::command().name(name).bin_name(name);
        let mut matches = command
            .try_get_matches_from(std::iter::once(std::ffi::OsString::from(name)).chain(args))?;
        HookOnly::from_arg_matches_mut(&mut matches)
    }
}

/// Handles the event on stdin. Exit 2 (deny) or 0, whatever goes wrong inside.
pub fn run(args: &HookArgs) -> ExitCode {
    let outcome = std::panic::catch_unwind(|| handle(args));
    match outcome {
        Ok(Verdict::Deny(message)) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
        Ok(Verdict::Ask(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Allow) => ExitCode::SUCCESS,
        Err(_) => {
            eprintln!("sentinel hook: internal error; allowing");
            ExitCode::SUCCESS
        }
    }
}

fn handle(args: &HookArgs) -> Verdict {
    let started = Instant::now();
    let mut raw = Vec::new();
    if let Err(err) = std::io::stdin().take(MAX_EVENT_BYTES).read_to_end(&mut raw) {
        eprintln!("sentinel hook: cannot read stdin: {err}");
        return Verdict::Allow;
    }
    let event: Value = match serde_json::from_slice(&raw) {
        Ok(event) => event,
        Err(err) => {
            eprintln!("sentinel hook: stdin is not a hook event ({err}); allowing");
            return Verdict::Allow;
        }
    };
    let verdict = decide(args, &event);
    let budget = Duration::from_millis(args.timeout_ms).saturating_sub(started.elapsed());
    // A token file anyone else can read is not used: the event is spooled instead, so the
    // token is never sent from a file another user may have planted or copied.
    let sent = match token::load() {
        Ok(token) => send::post_json(&args.endpoint, &raw, token.as_deref(), budget)
            .map_err(|err| err.to_string()),
        Err(err) => {
            eprintln!("sentinel hook: {err}; ignoring it and spooling the event");
            Err(err.to_string())
        }
    };
    if let Err(reason) = sent {
        let path = args.spool.clone().or_else(spool::default_path);
        match path.map(|p| spool::append(&p, &event).map(|()| p)) {
            Some(Ok(_)) => {}
            Some(Err(err)) => {
                eprintln!("sentinel hook: agent unreachable ({reason}); spool failed: {err}")
            }
            None => {
                eprintln!("sentinel hook: agent unreachable ({reason}); no spool path (HOME unset)")
            }
        }
    }
    verdict
}

fn decide(args: &HookArgs, event: &Value) -> Verdict {
    // Every built-in rule is about PreToolUse (a test checks it): other events need no
    // policy, so its parse is skipped.
    let pre_tool_use = event.get("hook_event_name").and_then(Value::as_str) == Some("PreToolUse");
    if args.policy.is_none() && !pre_tool_use {
        return Verdict::Allow;
    }
    let policy = match &args.policy {
        Some(path) => Policy::load(path).unwrap_or_else(|err| {
            eprintln!("sentinel hook: {err}; using the built-in policy");
            Policy::builtin()
        }),
        None => Policy::builtin(),
    };
    let decision = policy.evaluate(event);
    let rule = decision.rule_id.as_deref().unwrap_or("?");
    let reason = decision.reason.as_deref().unwrap_or("");
    match decision.action {
        Action::Allow => Verdict::Allow,
        Action::Deny => Verdict::Deny(format!("Blocked by sentinel policy {rule}: {reason}")),
        Action::Ask => Verdict::Ask(
            serde_json::json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "ask",
                    "permissionDecisionReason": format!("sentinel policy {rule}: {reason}"),
                }
            })
            .to_string(),
        ),
    }
}
