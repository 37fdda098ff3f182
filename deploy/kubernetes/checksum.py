#!/usr/bin/env python3
"""Config checksum annotations for the Sentinel manifests.

Sentinel reads its config only at start, and Kubernetes does not restart pods when a
ConfigMap they mount changes. Every pod template therefore carries the annotation
`sentinel.dev/config-checksum`: the SHA-256 of the ConfigMaps it mounts, so a config
change changes the pod template and rolls the workload.

The checksum of a pod template is the hex SHA-256 of the JSON text
`{"<configmap name>": {"<key>": "<value>", ...}, ...}` over the ConfigMaps its volumes
mount, with keys sorted and separators "," and ":" (Python's
`json.dumps(..., sort_keys=True, separators=(",", ":"))`, non-ASCII escaped).

    deploy/kubernetes/checksum.py            # rewrite the annotations in place
    deploy/kubernetes/checksum.py --check    # exit 1 if any annotation is stale

Files default to every *.yaml next to this script. Each file may hold at most one
workload (DaemonSet, Deployment, StatefulSet or Pod) whose annotation line is rewritten
textually, so comments and layout are kept. Needs PyYAML.
"""

import glob
import hashlib
import json
import os
import re
import sys

import yaml

ANNOTATION = "sentinel.dev/config-checksum"
WORKLOADS = {"DaemonSet", "Deployment", "StatefulSet", "Pod"}
LINE = re.compile(r'^(\s*sentinel\.dev/config-checksum:\s*)"?[0-9a-f]*"?\s*$', re.M)


def pod_spec(doc):
    return doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]


def pod_annotations(doc):
    meta = doc["metadata"] if doc["kind"] == "Pod" else doc["spec"]["template"]["metadata"]
    return meta.get("annotations") or {}


def checksum(config_maps, names):
    data = {name: config_maps[name] for name in sorted(names)}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def mounted(doc):
    return [v["configMap"]["name"] for v in pod_spec(doc).get("volumes", []) if "configMap" in v]


def main(argv):
    check = "--check" in argv
    files = [a for a in argv if a != "--check"] or sorted(
        glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "*.yaml")))
    docs = {f: [d for d in yaml.safe_load_all(open(f)) if d] for f in files}
    config_maps = {d["metadata"]["name"]: d.get("data", {})
                   for ds in docs.values() for d in ds if d["kind"] == "ConfigMap"}
    stale = 0
    for path, ds in docs.items():
        workloads = [d for d in ds if d["kind"] in WORKLOADS]
        if len(workloads) > 1:
            sys.exit(f"{path}: more than one workload; put each in its own file")
        if not workloads or not mounted(workloads[0]):
            continue
        doc = workloads[0]
        missing = [n for n in mounted(doc) if n not in config_maps]
        if missing:
            sys.exit(f"{path}: ConfigMap {missing} not found in {files}")
        want = checksum(config_maps, mounted(doc))
        have = pod_annotations(doc).get(ANNOTATION)
        if have == want:
            continue
        if check:
            print(f"{path}: {doc['kind']}/{doc['metadata']['name']} {ANNOTATION} is {have}, "
                  f"the ConfigMaps it mounts hash to {want}: run {sys.argv[0]}")
            stale += 1
            continue
        text = open(path).read()
        if len(LINE.findall(text)) != 1:
            sys.exit(f"{path}: needs exactly one '{ANNOTATION}: \"...\"' line in the pod template")
        open(path, "w").write(LINE.sub(lambda m: f'{m.group(1)}"{want}"', text))
        print(f"{path}: {doc['kind']}/{doc['metadata']['name']} {ANNOTATION} = {want}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
