#!/usr/bin/env bash
# Side-by-side comparison of Sentinel with another OTLP agent (issue 18 §7); see
# docs/performance.md for the figures and the exact commands. Not a test: it prints a table.
#
#   tests/bench/compare.sh [--sentinel BIN] [--loadgen BIN] [--variant NAME:SENTINEL_BIN[:KEY=VALUE,...]]...
#       [--peer-name NAME --peer-blackhole 'CMD {grpc} {http}' --peer-forward 'CMD {grpc} {next}'
#        [--peer-forward-disk 'CMD'] [--peer-env KEY=VALUE]...]
#       [--scenarios grpc10k,http10k,flat1x64,flat8x64,hop2mem,hop2disk,overload] [--rounds 3]
#       [--warmup 3] [--measure 10] [--agent-core 0] [--load-core 1] [--out DIR]
#
# The peer is any agent started from a command line: {grpc}, {http} are the ports it must
# listen on, {next} the port of the counting sink it forwards to. Sentinel agents get their
# configs from the harness. Defaults: the release binaries of this checkout (build them first:
# cargo build --release -p sentinel-agent -p sentinel-tests --bin sentinel --bin loadgen).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$(dirname "$here")")"
target="${CARGO_TARGET_DIR:-$root/target}"
command -v taskset >/dev/null || { echo "compare.sh needs taskset (util-linux)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "compare.sh needs 2 cores (agent and load are pinned apart)" >&2; exit 1; }
defaults=()
[[ " $* " == *" --sentinel "* ]] || defaults+=(--sentinel "$target/release/sentinel")
[[ " $* " == *" --loadgen "* ]] || defaults+=(--loadgen "$target/release/loadgen")
exec python3 "$here/compare.py" "${defaults[@]}" "$@"
