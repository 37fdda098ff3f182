//! `print-config`: the effective config as YAML, with each component's config as its
//! factory decoded it (defaults filled in, secrets redacted).

use serde_json::{Map, Value};

use super::model::AgentConfig;
use crate::components::Registry;
use sentinel_pipeline::Kind;

pub fn render_effective(config: &AgentConfig, registry: &Registry) -> String {
    let mut root = Map::new();
    for kind in [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Connector,
    ] {
        let section = config.section(kind);
        if section.is_empty() {
            continue;
        }
        let mut out = Map::new();
        for (id, node) in section {
            let factory = registry.all().into_iter().find(|f| {
                let info = f.info();
                info.kind == kind && info.type_name == id.type_name
            });
            let value = factory
                .and_then(|f| f.check(node).ok())
                .unwrap_or_else(|| node.to_json());
            out.insert(id.to_string(), value);
        }
        root.insert(kind.section().to_string(), Value::Object(out));
    }
    let service = &config.service;
    let mut pipelines = Map::new();
    for (id, p) in &service.pipelines {
        let ids = |refs: &[super::ComponentRef]| {
            Value::Array(
                refs.iter()
                    .map(|r| Value::String(r.id.to_string()))
                    .collect(),
            )
        };
        let mut body = Map::new();
        body.insert("receivers".into(), ids(&p.receivers));
        body.insert("processors".into(), ids(&p.processors));
        body.insert("exporters".into(), ids(&p.exporters));
        pipelines.insert(id.to_string(), Value::Object(body));
    }
    let mut service_map = Map::new();
    service_map.insert(
        "shutdown_timeout".into(),
        Value::String(humantime::format_duration(service.shutdown_timeout).to_string()),
    );
    service_map.insert(
        "data_dir".into(),
        Value::String(service.data_dir.display().to_string()),
    );
    service_map.insert(
        "telemetry".into(),
        serde_json::to_value(&service.telemetry).unwrap_or(Value::Null),
    );
    service_map.insert("pipelines".into(), Value::Object(pipelines));
    root.insert("service".into(), Value::Object(service_map));
    // Factories print `Secret` fields as `[redacted]`; this catches secrets in plain
    // strings (endpoint URLs, DSNs, headers, `auth` tokens).
    let mut root = Value::Object(root);
    sentinel_pipeline::config::redact::redact_value(&mut root);
    let mut out = String::new();
    emit(&root, 0, &mut out);
    out
}

/// A small block-style YAML emitter; strings are written as JSON strings (valid YAML).
fn emit(value: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                out.push_str(&format!("{pad}{}:", scalar_key(key)));
                write_child(v, indent, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                write_child(item, indent, out);
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn write_child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit(v, indent + 1, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit(v, indent + 1, out);
        }
        Value::Object(_) => out.push_str(" {}\n"),
        Value::Array(_) => out.push_str(" []\n"),
        other => out.push_str(&format!(" {}\n", scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn scalar_key(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-/.".contains(c))
    {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}
