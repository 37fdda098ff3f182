//! deploy/kubernetes/: every manifest validates against the Kubernetes API schemas
//! (offline, `kubernetes-validate` from tests/python/requirements.txt), every config
//! checksum annotation matches its ConfigMap, and every ConfigMap's config passes
//! `sentinel validate` with the real binary.

use std::collections::BTreeSet;
use std::process::Command;

use sentinel_tests::{sentinel_bin, workspace_root};
use serde_json::Value;

/// Configs that may name a component another branch is adding: validated only when the
/// binary has it, and reported loudly as skipped otherwise.
const MAY_WAIT_FOR: &[(&str, &str)] = &[("agent-to-gateway.yaml", "loadbalancing")];

/// The environment the pods give the agent (downward API, Secret).
const POD_ENV: &[(&str, &str)] = &[
    ("KUBE_NODE_NAME", "node-1"),
    ("POD_NAME", "shop-with-sentinel"),
    ("POD_NAMESPACE", "observability"),
    (
        "SENTINEL_PG_DSN",
        "postgresql://sentinel:secret@postgres.db.svc:5432/telemetry",
    ),
];

fn available_components() -> BTreeSet<String> {
    let out = Command::new(sentinel_bin())
        .arg("components")
        .output()
        .expect("run sentinel components");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn manifests_validate_and_their_configs_pass_sentinel_validate() {
    let out_dir = tempfile::tempdir().unwrap();
    let python = Command::new("python3")
        .arg(workspace_root().join("tests/python/k8s_manifests.py"))
        .arg(workspace_root().join("deploy/kubernetes"))
        .arg(out_dir.path())
        .output()
        .expect("python3 is installed by the test command");
    let stdout = String::from_utf8_lossy(&python.stdout);
    assert!(
        python.status.success(),
        "manifest checks failed (is tests/python/requirements.txt installed?):\n{stdout}\n{}",
        String::from_utf8_lossy(&python.stderr)
    );
    eprint!("{stdout}");

    let listed: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("configs.json")).unwrap(),
    )
    .unwrap();
    let manifests: BTreeSet<&str> = listed
        .iter()
        .map(|c| c["manifest"].as_str().unwrap())
        .collect();
    for want in [
        "agent.yaml",
        "gateway.yaml",
        "sidecar-example.yaml",
        "agent-to-gateway.yaml",
    ] {
        assert!(manifests.contains(want), "no ConfigMap in {want}");
    }

    let available = available_components();
    let mut validated = 0;
    for config in &listed {
        let manifest = config["manifest"].as_str().unwrap();
        let path = config["path"].as_str().unwrap();
        let missing: Vec<&str> = config["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|c| !available.contains(*c))
            .collect();
        if !missing.is_empty() {
            let waits = missing
                .iter()
                .all(|c| MAY_WAIT_FOR.contains(&(manifest, *c)));
            assert!(
                waits,
                "{manifest}: components {missing:?} are not in `sentinel components`"
            );
            eprintln!(
                "\n*** SKIPPED: `sentinel validate` of {manifest} ({}): this binary has no {missing:?} component yet ***\n",
                config["configmap"]
            );
            continue;
        }
        let out = Command::new(sentinel_bin())
            .args(["validate", "--config", path])
            .envs(POD_ENV.iter().copied())
            .output()
            .expect("run sentinel validate");
        assert!(
            out.status.success(),
            "{manifest}: `sentinel validate` refused its config:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        validated += 1;
    }
    assert!(validated >= 3, "only {validated} configs were validated");
}
