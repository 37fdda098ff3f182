//! Sentinel sinks and the sending queue that wraps every one of them.

pub mod blackhole;
pub mod debug;
pub mod file;
pub mod otlp;
pub mod otlphttp;
pub mod prometheus;
pub mod sending;

use sentinel_pipeline::config::Diagnostic;
use sentinel_pipeline::BuildError;

/// Turns config diagnostics into the build error the runtime reports.
pub(crate) fn config_error(id: &str, diagnostics: Vec<Diagnostic>) -> BuildError {
    let diagnostic = diagnostics.into_iter().next().unwrap_or_else(|| {
        Diagnostic::error(sentinel_pipeline::config::Span::unknown(), "invalid config")
    });
    BuildError::Config {
        component: id.to_string(),
        diagnostic,
    }
}
