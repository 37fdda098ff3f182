//! Sentinel processor and connector stages. Each folder holds one component: its
//! documented config, its implementation, its factory and its tests.

pub mod actions;
pub mod attributes;
pub mod batch;
pub mod count;
pub mod forward;
pub mod memory_limiter;
pub mod resource;

#[cfg(test)]
mod test_data;

use sentinel_pipeline::config::Diagnostic;
use sentinel_pipeline::BuildError;

/// Turns config diagnostics into the build error the runtime reports.
pub(crate) fn config_error(id: &str, diagnostics: Vec<Diagnostic>) -> BuildError {
    let diagnostic = diagnostics
        .into_iter()
        .next()
        .unwrap_or_else(|| Diagnostic::error(sentinel_pipeline::config::Span::unknown(), "invalid config"));
    BuildError::Config {
        component: id.to_string(),
        diagnostic,
    }
}
