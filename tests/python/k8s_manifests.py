"""Checks deploy/kubernetes/ offline; run by tests/tests/kubernetes_manifests.rs.

1. Every document of every manifest validates strictly (unknown fields rejected) against
   the Kubernetes API schemas bundled in the `kubernetes-validate` package, for 1.29 (the
   first release with native sidecars on by default) and the newest bundled release; a
   manifest with a misspelt field must fail, so the check is known to bite.
2. Every pod template's `sentinel.dev/config-checksum` annotation equals the SHA-256 of
   the ConfigMaps it mounts (computed here, independently of checksum.py), and
   `checksum.py --check` agrees, and flags a changed config.
3. Every ConfigMap's config.yaml is written to OUT_DIR as <configmap name>.yaml, and
   OUT_DIR/configs.json lists them with the component types each uses, for the Rust
   test to run `sentinel validate` on.

usage: k8s_manifests.py MANIFEST_DIR OUT_DIR
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
WORKLOADS = {"DaemonSet", "Deployment", "StatefulSet", "Pod"}


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def validate_all(files):
    checked = 0
    for path in files:
        for doc in load(path):
            for version in VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    sys.exit(f"{path}: {doc['kind']}/{doc['metadata']['name']} "
                             f"is invalid for Kubernetes {version}: {e.message} at {list(e.path)}")
                checked += 1
    print(f"schema: {checked} document checks passed ({', '.join(VERSIONS)})")


def validator_bites(files):
    """A misspelt container field must be rejected, or the strict check proves nothing."""
    doc = next(d for f in files for d in load(f) if d["kind"] == "DaemonSet")
    doc["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = True
    try:
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
    except kubernetes_validate.ValidationError:
        print("schema: a misspelt field is rejected")
        return
    sys.exit("strict validation accepted a misspelt field")


def pod_template(doc):
    if doc["kind"] == "Pod":
        return doc["metadata"], doc["spec"]
    return doc["spec"]["template"]["metadata"], doc["spec"]["template"]["spec"]


def check_checksums(files, manifest_dir):
    config_maps = {d["metadata"]["name"]: d.get("data", {})
                   for f in files for d in load(f) if d["kind"] == "ConfigMap"}
    workloads = 0
    for path in files:
        for doc in load(path):
            if doc["kind"] not in WORKLOADS:
                continue
            meta, spec = pod_template(doc)
            names = sorted(v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v)
            assert names, f"{path}: {doc['kind']} mounts no ConfigMap"
            text = json.dumps({n: config_maps[n] for n in names}, sort_keys=True, separators=(",", ":"))
            want = hashlib.sha256(text.encode()).hexdigest()
            have = (meta.get("annotations") or {}).get("sentinel.dev/config-checksum")
            assert have == want, f"{path}: {doc['kind']} checksum {have} != {want}; run deploy/kubernetes/checksum.sh"
            workloads += 1
    assert workloads >= 3, f"expected the agent, gateway and sidecar workloads, found {workloads}"
    tool = os.path.join(manifest_dir, "checksum.py")
    subprocess.run([sys.executable, tool, "--check"], check=True)
    # A changed config must be reported as stale by the tool.
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            shutil.copy(f, tmp)
        agent = os.path.join(tmp, "agent.yaml")
        with open(agent) as f:
            text = f.read()
        with open(agent, "w") as f:
            f.write(text.replace("limit_mib: 100", "limit_mib: 101", 1))
        copies = sorted(glob.glob(os.path.join(tmp, "*.yaml")))
        stale = subprocess.run([sys.executable, tool, "--check", *copies], capture_output=True, text=True)
        assert stale.returncode == 1 and "agent.yaml" in stale.stdout, stale
    print(f"checksum: {workloads} workloads match their ConfigMaps; a changed config is flagged")


def component_types(config):
    types = set()
    for section in ("receivers", "processors", "exporters", "connectors"):
        for key in (config.get(section) or {}):
            types.add(key.split("/")[0])
    return sorted(types)


def extract_configs(files, out_dir):
    listed = []
    for path in files:
        for doc in load(path):
            if doc["kind"] != "ConfigMap":
                continue
            text = doc["data"]["config.yaml"]
            name = doc["metadata"]["name"]
            target = os.path.join(out_dir, f"{name}.yaml")
            with open(target, "w") as f:
                f.write(text)
            listed.append({"manifest": os.path.basename(path), "configmap": name, "path": target,
                           "components": component_types(yaml.safe_load(text))})
    with open(os.path.join(out_dir, "configs.json"), "w") as f:
        json.dump(listed, f, indent=2)
    print(f"configs: {len(listed)} written to {out_dir}")


def main():
    manifest_dir, out_dir = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(manifest_dir, "*.yaml")))
    assert files, f"no manifests in {manifest_dir}"
    validate_all(files)
    validator_bites(files)
    check_checksums(files, manifest_dir)
    extract_configs(files, out_dir)


if __name__ == "__main__":
    main()
