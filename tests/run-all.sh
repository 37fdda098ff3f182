#!/usr/bin/env bash
# Runs every Sentinel test on a fresh Debian machine: installs what the tests need (the
# Python OpenTelemetry SDK for the interop test), builds, then runs the whole workspace's
# unit and end-to-end tests against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  -r tests/python/requirements.txt

cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast
