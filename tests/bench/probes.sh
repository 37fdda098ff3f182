#!/usr/bin/env bash
# Peak RSS of the agent under each hostile-input probe (issue 21 item 2), as a Markdown
# table; with a second binary (for example main's), the same rows for it first.
#   tests/bench/probes.sh AGENT_BINARY [BASELINE_BINARY] [CONFIG]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
agent=${1:?usage: probes.sh AGENT_BINARY [BASELINE_BINARY] [CONFIG]}
baseline=${2:-}
config=${3:-$root/config/default.yaml}
probes=${CARGO_TARGET_DIR:-$root/target}/release/probes
[ -x "$probes" ] || (cd "$root" && cargo build --release -q -p sentinel-tests --bin probes)
echo "| agent | probe | answers | idle MiB | peak MiB | peak above idle MiB | served during | served after |"
echo "|---|---|---|---|---|---|---|---|"
if [ -n "$baseline" ]; then
  "$probes" --sentinel "$baseline" --config "$config" --label before
fi
"$probes" --sentinel "$agent" --config "$config" --label after
