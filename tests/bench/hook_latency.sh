#!/usr/bin/env bash
# Wall time of `sentinel hook` per call (process start to exit) for a PreToolUse Bash
# event, 1,000 calls each: with a real agent up (its hooks receiver answering) and with it
# down (the event is redacted and spooled); and the same for the small `sentinel-hook`
# binary when it sits beside `sentinel`. `/bin/true` is measured in the same run for
# scale, since other work on the machine moves every figure.
#
# Usage: tests/bench/hook_latency.sh [--no-build] [--calls N] [--binary PATH]
# Prints one JSON object: p50/p99/max in milliseconds per case.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
binary="$target/release/sentinel"
calls=1000
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --calls) calls="$2"; shift ;;
        --binary) binary="$2"; build=0; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release -p sentinel-agent --bin sentinel --bin sentinel-hook)
fi
[ -x "$binary" ] || { echo "no binary at $binary (build with cargo build --release)" >&2; exit 1; }

work="$(mktemp -d)"
agent_pid=""
cleanup() {
    if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
down_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/agent.yaml" <<EOF
receivers:
  hooks:
    endpoint: 127.0.0.1:$port
    spool_path: ""
exporters:
  blackhole:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    logs:
      receivers: [hooks]
      exporters: [blackhole]
EOF
"$binary" run --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!

python3 - "$binary" "$port" "$down_port" "$calls" "$work" <<'PY'
import json, os, socket, sys, time

binary, port, down_port, calls, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
event = json.dumps({
    "session_id": "bench", "hook_event_name": "PreToolUse", "tool_name": "Bash",
    "tool_use_id": "toolu_bench", "cwd": "/repo",
    "tool_input": {"command": "cargo test --workspace && git status", "description": "tests"},
}).encode()

deadline = time.time() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("the agent did not start listening; see its log")
        time.sleep(0.05)

env = dict(os.environ, XDG_STATE_HOME=os.path.join(work, "state"), SENTINEL_HOOK_TOKEN_FILE="")
devnull = os.open(os.devnull, os.O_WRONLY)

def once(argv):
    """One call: the event on stdin from a pipe, wall time from spawn to reaped exit."""
    r, w = os.pipe()
    os.write(w, event)
    os.close(w)
    actions = [(os.POSIX_SPAWN_DUP2, r, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    os.close(r)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} exited {status}")
    return elapsed

def measure(argv):
    times = sorted(once(argv) for _ in range(calls))
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 3)
    return {"calls": calls, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": round(times[-1], 3)}

up, down = (["--endpoint", f"http://127.0.0.1:{p}/v1/hooks"] for p in (port, down_port))
result = {
    "bin_true": measure(["/bin/true"]),
    "agent_up": measure([binary, "hook", *up]),
    "agent_down": measure([binary, "hook", *down]),
}
small = os.path.join(os.path.dirname(binary), "sentinel-hook")
if os.access(small, os.X_OK):
    result["small_binary_agent_up"] = measure([small, *up])
    result["small_binary_agent_down"] = measure([small, *down])
spool = os.path.join(work, "state", "sentinel", "hook-spool.jsonl")
result["spooled_lines"] = sum(1 for _ in open(spool)) if os.path.exists(spool) else 0
result["loadavg"] = os.getloadavg()
print(json.dumps(result, indent=2))
PY
