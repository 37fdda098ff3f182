//! Log setup from `service.telemetry.logs`.

use std::io::IsTerminal;

use sentinel_pipeline::config::redact::redact_text;
use tracing_subscriber::EnvFilter;

use crate::config::LogEncoding;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level.
pub fn init(level: &str, encoding: LogEncoding) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_wanted(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        ))
        .with_writer(|| RedactingStderr);
    let result = match encoding {
        LogEncoding::Json => builder.json().flatten_event(true).try_init(),
        LogEncoding::Console => builder.try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// Stderr through [`redact_text`]: a log line that names an endpoint (an exporter's error,
/// a validation error) never shows the credentials in it. The fmt layer writes each event
/// with one `write` call, so a URL is never split across calls.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact_text(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Colour only on a terminal: journald, files and pipes get plain text (escape codes
/// there are noise). `NO_COLOR` (no-color.org) turns it off on a terminal too.
fn colour_wanted(stderr_is_terminal: bool, no_color: bool) -> bool {
    stderr_is_terminal && !no_color
}

#[cfg(test)]
mod tests {
    use super::colour_wanted;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, false));
        assert!(!colour_wanted(false, false));
        assert!(!colour_wanted(true, true));
        assert!(!colour_wanted(false, true));
    }
}
