//! Walks the registry and fails for any component type whose folder does not call its
//! kind's compliance runner (`pipeline::testing`), so a new component cannot skip it.

use std::path::{Path, PathBuf};

use sentinel_pipeline::Kind;

use super::Registry;

/// The runner each kind's compliance test must call.
fn runner(kind: Kind) -> &'static str {
    match kind {
        Kind::Receiver => "ReceiverCompliance::new(",
        Kind::Processor => "ProcessorCompliance::new(",
        Kind::Exporter => "ExporterCompliance::new(",
        Kind::Connector => "ConnectorCompliance::new(",
    }
}

/// The folder of the module that defines a factory, from its type path
/// (`sentinel_processors::batch::BatchFactory` → `processors/src/batch`). A factory
/// defined in a file module (`llm_cost::processor::...`) belongs to the folder holding
/// that file (`processors/src/llm_cost`).
fn component_folder(workspace: &Path, type_path: &str) -> PathBuf {
    let mut segments = type_path.split("::");
    let krate = segments.next().unwrap_or_default();
    let crate_dir = krate.strip_prefix("sentinel_").unwrap_or(krate);
    let modules: Vec<&str> = segments.collect();
    let mut folder = workspace.join(crate_dir).join("src");
    for module in &modules[..modules.len().saturating_sub(1)] {
        let nested = folder.join(module);
        if !nested.is_dir() {
            break;
        }
        folder = nested;
    }
    folder
}

/// Whether some Rust file under `folder` calls `runner` with `factory` as its first
/// argument (whitespace ignored, so rustfmt's line breaks do not matter).
fn calls_runner(folder: &Path, runner: &str, factory: &str) -> bool {
    let call = format!("{runner}&{factory}");
    rust_files(folder).iter().any(|file| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        compact.contains(&call)
    })
}

fn rust_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the agent crate sits in the workspace")
        .to_path_buf()
}

#[test]
fn every_registered_component_calls_its_kinds_compliance_runner() {
    let registry = Registry::builtin();
    let workspace = workspace();
    let mut missing = Vec::new();
    for factory in registry.all() {
        let info = factory.info();
        let path = factory.type_path();
        let folder = component_folder(&workspace, path);
        let struct_name = path.rsplit("::").next().unwrap_or(path);
        assert!(folder.is_dir(), "{path}: no folder {}", folder.display());
        if !calls_runner(&folder, runner(info.kind), struct_name) {
            missing.push(format!(
                "{} {:?} ({}): no `{}&{struct_name}, ...)` under {}",
                info.kind.as_str(),
                info.type_name,
                path,
                runner(info.kind),
                folder.display()
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "components without a compliance test:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_coverage_check_finds_a_call_and_misses_a_component_without_one() {
    let workspace = workspace();
    let batch = component_folder(&workspace, "sentinel_processors::batch::BatchFactory");
    assert_eq!(batch, workspace.join("processors/src/batch"));
    let in_a_file = component_folder(
        &workspace,
        "sentinel_processors::llm_cost::processor::LlmCostProcessorFactory",
    );
    assert_eq!(in_a_file, workspace.join("processors/src/llm_cost"));

    let folder = std::env::temp_dir().join(format!("sentinel-coverage-{}", std::process::id()));
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    std::fs::write(
        folder.join("nested/compliance.rs"),
        "ProcessorCompliance::new(\n    &BatchFactory,\n    \"\",\n)",
    )
    .unwrap();
    std::fs::write(
        folder.join("mod.rs"),
        "ProcessorCompliance::new(&OtherFactory",
    )
    .unwrap();
    assert!(calls_runner(
        &folder,
        runner(Kind::Processor),
        "BatchFactory"
    ));
    assert!(!calls_runner(
        &folder,
        runner(Kind::Processor),
        "MissingFactory"
    ));
    assert!(!calls_runner(
        &folder,
        runner(Kind::Exporter),
        "BatchFactory"
    ));
    std::fs::remove_dir_all(&folder).unwrap();
}
