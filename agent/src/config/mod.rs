//! Config loading: YAML files (or the embedded default) → env expansion → merge → typed
//! top level → validation against the component registry.

mod model;
mod render;
mod validate;
pub mod yaml;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use sentinel_pipeline::config::{Diagnostic, Node, Severity};

pub use model::{
    AgentConfig, ComponentId, ComponentRef, LogEncoding, LogsTelemetry, MetricsTelemetry,
    PipelineConfig, PipelineId, ServiceConfig, TapConfig, TelemetryConfig,
};
pub use render::render_effective;
pub use validate::{connector_links, validate, ConnectorLink};

use crate::components::Registry;

/// The config `sentinel run` uses when given no `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.yaml");
const DEFAULT_CONFIG_NAME: &str = "<embedded default.yaml>";

/// Reads, expands and merges the files (the embedded default when `files` is empty).
pub fn load(
    files: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, Vec<Diagnostic>> {
    match load_lenient(files, env) {
        (Some(config), errors) if errors.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// Like [`load`], but returns what could be read along with the problems, so validation
/// can still report the rest in the same pass.
fn load_lenient(
    files: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<AgentConfig>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    if files.is_empty() {
        sources.push((DEFAULT_CONFIG_NAME.to_string(), DEFAULT_CONFIG.to_string()));
    }
    for file in files {
        let name = file.display().to_string();
        match std::fs::read_to_string(file) {
            Ok(text) => sources.push((name, text)),
            // Line 0: the message names the file alone, not a position in it.
            Err(err) => errors.push(Diagnostic::error(
                sentinel_pipeline::config::Span::new(name, 0, 0),
                format!("cannot read config file: {}", io_reason(&err)),
            )),
        }
    }
    let mut merged: Option<Node> = None;
    for (name, text) in sources {
        match yaml::parse(&name, &text) {
            Ok(mut node) => {
                yaml::expand_env(&mut node, env, &mut errors);
                match &mut merged {
                    Some(base) => yaml::merge(base, node),
                    None => merged = Some(node),
                }
            }
            Err(d) => errors.push(d),
        }
    }
    let config = merged.and_then(|root| model::from_root(&root, &mut errors));
    (config, errors)
}

/// An I/O error in plain words, without Rust's `(os error 2)`.
fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => err.to_string(),
    }
}

/// Loads and validates; the config is returned when there are no errors (warnings allowed).
pub fn load_and_validate(
    files: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
    registry: &Registry,
) -> (Option<AgentConfig>, Vec<Diagnostic>) {
    // Everything found in one pass: file-level problems and each component's.
    let (config, mut diagnostics) = load_lenient(files, env);
    let Some(config) = config else {
        return (None, diagnostics);
    };
    diagnostics.extend(validate(&config, registry));
    diagnostics.sort_by(|a, b| {
        (&a.span.file, a.span.line, a.span.col).cmp(&(&b.span.file, b.span.line, b.span.col))
    });
    let ok = diagnostics.iter().all(|d| d.severity != Severity::Error);
    (ok.then_some(config), diagnostics)
}
