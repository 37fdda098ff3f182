#!/usr/bin/env bash
# CPU cost of `sentinel top` polling: the agent's CPU time over SECONDS with nobody polling,
# then over SECONDS with a `sentinel top --interval 1s` running against it, read from
# /proc/<pid>/stat (utime + stime). The agent runs an otlp receiver, batch and the file,
# blackhole and debug exporters (a typical component count), with no traffic, so the
# difference is the cost of answering /api/v1/status once a second.
#
# Usage: cargo build --release -p sentinel-agent && tests/bench/top_poll_cpu.sh [SECONDS]
# (SENTINEL_BIN=path/to/sentinel measures another build.)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-60}
BIN=${SENTINEL_BIN:-target/release/sentinel}
WORK=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GRPC=$(port); HTTP=$(port); ADMIN=$(port)
cat > "$WORK/agent.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
      http:
        endpoint: 127.0.0.1:$HTTP
processors:
  batch: {}
exporters:
  file:
    path: $WORK/out.jsonl
  blackhole: {}
  debug: {}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$ADMIN
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file, blackhole]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
YAML
"$BIN" run --config "$WORK/agent.yaml" >"$WORK/agent.log" 2>&1 &
AGENT=$!
TOP=
cleanup() { [ -n "$TOP" ] && kill "$TOP" 2>/dev/null; kill "$AGENT" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.1; done
sleep 2

ticks() { awk '{print $14 + $15}' "/proc/$AGENT/stat"; }
HZ=$(getconf CLK_TCK)
measure() {
  local start end
  start=$(ticks); sleep "$DURATION"; end=$(ticks)
  python3 -c "print(f'{($end - $start) / $HZ / $DURATION * 100:.3f}')"
}
IDLE=$(measure)
"$BIN" top --admin "127.0.0.1:$ADMIN" --interval 1s >/dev/null 2>&1 &
TOP=$!
sleep 1
POLLED=$(measure)
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$AGENT/status")
echo "{\"seconds\": $DURATION, \"agent_cpu_percent_idle\": $IDLE, \"agent_cpu_percent_with_top_1s\": $POLLED, \"agent_rss_kib\": $RSS}"
