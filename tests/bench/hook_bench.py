#!/usr/bin/env python3
"""Wall time of `sentinel hook` per call, process start to exit, for a PreToolUse Bash
event: with an endpoint that answers (a local HTTP server standing in for the agent, or
a real agent via --endpoint) and with nothing listening (the event goes to the spool).

Usage: cargo build --release -p sentinel-agent
       python3 tests/bench/hook_bench.py [--calls 1000] [--endpoint URL]
Prints p50/p99/max in milliseconds as JSON.
"""

import argparse
import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENT = json.dumps({
    "session_id": "bench",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_use_id": "toolu_bench",
    "cwd": "/repo",
    "tool_input": {"command": "cargo test --workspace && git status", "description": "tests"},
}).encode()


class Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(binary, endpoint, calls, state):
    times = []
    env = dict(os.environ, XDG_STATE_HOME=state)
    for _ in range(calls):
        start = time.perf_counter()
        proc = subprocess.run([binary, "hook", "--endpoint", endpoint], input=EVENT,
                              capture_output=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
        assert proc.returncode == 0, proc.stderr
    times.sort()
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 3)
    return {"calls": calls, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": round(times[-1], 3)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--endpoint", help="a running agent's hooks endpoint")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/sentinel"))
    args = parser.parse_args()
    state = tempfile.mkdtemp()
    server = None
    endpoint = args.endpoint
    if endpoint is None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Ok)
        # The hook closes after the status line; the reset that follows is expected.
        server.handle_error = lambda *args: None
        threading.Thread(target=server.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/hooks"
    up = measure(args.binary, endpoint, args.calls, state)
    down = measure(args.binary, f"http://127.0.0.1:{free_port()}/v1/hooks", args.calls, state)
    spooled = sum(1 for _ in open(os.path.join(state, "sentinel/hook-spool.jsonl")))
    print(json.dumps({"agent_up": up, "agent_down": down, "spooled_lines": spooled}, indent=2))
    if server:
        server.shutdown()


if __name__ == "__main__":
    main()
