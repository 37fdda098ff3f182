#!/bin/sh
# Recomputes the `sentinel.dev/config-checksum` pod-template annotations from the
# ConfigMaps each workload mounts (definition in checksum.py). Run after editing a config:
#   deploy/kubernetes/checksum.sh && kubectl apply -f deploy/kubernetes/
# `deploy/kubernetes/checksum.sh --check` only reports stale annotations (exit 1).
exec python3 "$(dirname "$0")/checksum.py" "$@"
