#!/usr/bin/env bash
# Reload time for a 10-pipeline config: median (and max) latency of POST /-/reload over 20
# reloads, alternating two configs that differ in one processor of every pipeline (so all
# ten pipelines are rebuilt each time; receivers and exporter queues are kept), while a
# `telemetrygen`-free loop of curl OTLP/HTTP requests checks that no client is refused.
#   tests/bench/reload_latency.sh [path/to/sentinel]
set -euo pipefail
BIN=${1:-target/release/sentinel}
DIR=$(mktemp -d)
trap 'kill "$AGENT" 2>/dev/null || true; rm -rf "$DIR"' EXIT
ADMIN=18931 HTTP=14391

config() { # $1: the attribute value every pipeline's processor sets
  {
    echo "receivers:"
    echo "  otlp:"
    echo "    protocols:"
    echo "      http:"
    echo "        endpoint: 127.0.0.1:$HTTP"
    echo "processors:"
    echo "  attributes/tag:"
    echo "    actions:"
    echo "      - {key: tag, value: \"$1\", action: upsert}"
    echo "exporters:"
    for i in $(seq 1 10); do
      echo "  file/p$i:"
      echo "    path: $DIR/p$i.jsonl"
    done
    echo "service:"
    echo "  telemetry:"
    echo "    metrics:"
    echo "      address: 127.0.0.1:$ADMIN"
    echo "  pipelines:"
    for i in $(seq 1 10); do
      echo "    logs/p$i:"
      echo "      receivers: [otlp]"
      echo "      processors: [attributes/tag]"
      echo "      exporters: [file/p$i]"
    done
  } > "$DIR/config.yaml"
}

config a
"$BIN" run --config "$DIR/config.yaml" > "$DIR/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$ADMIN/readyz" > /dev/null && break
  sleep 0.1
done

BODY='{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}'
(
  sent=0 refused=0
  while [ ! -f "$DIR/stop" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      -d "$BODY" "http://127.0.0.1:$HTTP/v1/logs")
    sent=$((sent + 1))
    [ "$code" = 200 ] || refused=$((refused + 1))
  done
  echo "$sent $refused" > "$DIR/load"
) &
LOAD=$!

times=()
for i in $(seq 1 20); do
  if (( i % 2 )); then config b; else config a; fi
  start=$(date +%s%N)
  code=$(curl -s -o "$DIR/answer" -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/-/reload")
  end=$(date +%s%N)
  [ "$code" = 200 ] || { echo "reload $i failed: $(cat "$DIR/answer")"; exit 1; }
  times+=($(( (end - start) / 1000 )))
done
touch "$DIR/stop"
wait "$LOAD"
read -r sent refused < "$DIR/load"
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "reloads: 20 of a 10-pipeline config (every pipeline rebuilt)"
echo "POST /-/reload latency: median $(( (sorted[9] + sorted[10]) / 2 )) us, max ${sorted[19]} us"
echo "OTLP/HTTP requests during the reloads: $sent, refused: $refused"
