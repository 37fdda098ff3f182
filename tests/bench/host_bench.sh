#!/usr/bin/env bash
# Steady-state cost of the host agent: hostmetrics (all scrapers, process scraper on 300+
# processes) plus the postgresql, pgbouncer and redis receivers, all every 10 s, into
# blackhole. Starts its own PostgreSQL, PgBouncer and Redis on free loopback ports, and 300
# idle `sleep` processes. Reports the agent's average CPU (% of one core), CPU per scrape
# round and RSS, read from /proc/<pid>.
#
# Usage: cargo build --release -p sentinel-agent && tests/bench/host_bench.sh [SECONDS]
# (SENTINEL_BIN=path/to/sentinel measures another build.)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-120}
BIN=${SENTINEL_BIN:-target/release/sentinel}
WORK=$(mktemp -d); chmod 755 "$WORK"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG=$(port); BOUNCER=$(port); REDIS=$(port); ADMIN=$(port)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$WORK"

as_pg "$PGBIN/initdb" -A trust -U postgres --no-sync -D "$WORK/pg" >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -o "-p $PG -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK" -l "$WORK/pg.log" -w start >/dev/null
cat > "$WORK/bouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PG dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER
unix_socket_dir =
auth_type = trust
auth_file = $WORK/users.txt
admin_users = postgres
logfile = $WORK/bouncer.log
pidfile = $WORK/bouncer.pid
EOF
echo '"postgres" ""' > "$WORK/users.txt"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"/*
as_pg /usr/sbin/pgbouncer -d "$WORK/bouncer.ini"
redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --daemonize yes --pidfile "$WORK/redis.pid" >/dev/null

cat > "$WORK/agent.yaml" <<EOF
receivers:
  hostmetrics:
    collection_interval: 10s
    scrapers:
      cpu: { metrics: { system.cpu.utilization: { enabled: true } } }
      memory:
      disk:
      filesystem:
      network:
      load:
      paging:
      processes:
      system:
      container:
      process:
        metrics:
          process.cpu.utilization: { enabled: true }
          process.threads: { enabled: true }
          process.open_file_descriptors: { enabled: true }
  postgresql: { endpoint: "127.0.0.1:$PG", username: postgres, tls: { insecure: true }, collection_interval: 10s }
  pgbouncer: { endpoint: "127.0.0.1:$BOUNCER", username: postgres, tls: { insecure: true }, collection_interval: 10s }
  redis: { endpoint: "127.0.0.1:$REDIS", tls: { insecure: true }, collection_interval: 10s }
exporters:
  blackhole:
service:
  telemetry: { metrics: { address: "127.0.0.1:$ADMIN" } }
  pipelines:
    metrics:
      receivers: [hostmetrics, postgresql, pgbouncer, redis]
      exporters: [blackhole]
EOF

SLEEPERS=()
for _ in $(seq 300); do sleep 3600 & SLEEPERS+=($!); done
"$BIN" run --config "$WORK/agent.yaml" > "$WORK/agent.log" 2>&1 &
AGENT=$!
cleanup() {
  kill "$AGENT" "${SLEEPERS[@]}" 2>/dev/null || true
  kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
  kill "$(cat "$WORK/bouncer.pid")" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$AGENT/stat"; }
sleep 12 # the first two rounds (t=0 and t=10 s) are done: start-up is not steady state
T0=$(ticks); W0=$(date +%s.%N); MAX=0; SUM=0; N=0
END=$(($(date +%s) + DURATION))
while [ "$(date +%s)" -lt "$END" ]; do
  sleep 1
  R=$(awk '/VmRSS/{print $2}' "/proc/$AGENT/status"); SUM=$((SUM + R)); N=$((N + 1))
  [ "$R" -gt "$MAX" ] && MAX=$R
done
T1=$(ticks); W1=$(date +%s.%N)
[ -n "${SMAPS_OUT:-}" ] && cp "/proc/$AGENT/smaps" "$SMAPS_OUT"
echo "processes: $(ls /proc | grep -c '^[0-9]')"
# Where the resident memory is at the end: heap and stacks (anonymous) or mapped binary (file).
grep -E '^(Rss|Anonymous|Private_Clean|Shared_Clean)' "/proc/$AGENT/smaps_rollup" | tr -s ' ' | paste -sd ' '
echo "threads: $(ls /proc/$AGENT/task | wc -l)"
awk -v t=$((T1 - T0)) -v k="$TCK" -v a="$W0" -v b="$W1" 'BEGIN {
  w = b - a; rounds = w / 10
  printf "window %.1f s, %.0f rounds; CPU %.3f%% of one core; %.1f ms CPU per round\n", w, rounds, 100 * t / k / w, 1000 * t / k / rounds }'
awk -v m="$MAX" -v s="$SUM" -v n="$N" 'BEGIN { printf "RSS max %.1f MiB, average %.1f MiB\n", m / 1024, s / n / 1024 }'
grep -i -E "warn|error" "$WORK/agent.log" | cut -c1-200 || true
curl -s "127.0.0.1:$ADMIN/metrics" | grep -E '^sentinel_component_(received|refused)_items_total' | grep -E 'hostmetrics|postgresql|pgbouncer|redis' || true
grep -c -i -E "warn|error" "$WORK/agent.log" | sed 's/^/agent log warnings+errors: /'
