//! `sentinel-hook`: `sentinel hook` as a binary of its own. A coding agent starts it on
//! every tool call, and a process that links only the hook's code (no TLS libraries, no
//! runtime, a few hundred KiB instead of 25 MiB) starts in a fraction of the time.
//! `sentinel hook install` points Claude Code at it when it sits beside `sentinel`.

use std::process::ExitCode;

fn main() -> ExitCode {
    sentinel_agent::hook::standalone(std::env::args_os().skip(1))
}
