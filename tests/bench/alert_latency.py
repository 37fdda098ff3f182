#!/usr/bin/env python3
"""Notification latency from condition to webhook, at the default settings.

Starts a local webhook receiver and the agent with an `alert_rules` connector
(default evaluation_interval 15s, `for: 0s`) feeding a `webhook` exporter with its default
grouping (group_wait 30s). At t0 a gauge crosses the threshold (sent over OTLP/HTTP and
repeated every 5 s so the series stays fresh); the figure is the time until the webhook
receives the firing notification. Runs ROUNDS times (default 3) and prints each and the
median.

    python3 tests/bench/alert_latency.py [ROUNDS] [SENTINEL_BINARY]
"""
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append((time.monotonic(), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


CONFIG = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
connectors:
  alert_rules:
    groups:
      - name: latency
        rules:
          - alert: ValueHigh
            expr: bench_value > 10
            labels: {{severity: warning}}
            annotations: {{summary: value is high}}
exporters:
  webhook:
    url: http://127.0.0.1:{hook}/alerts
service:
  data_dir: {data}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [alert_rules]
    logs:
      receivers: [alert_rules]
      exporters: [webhook]
"""


def gauge(value):
    now = time.time_ns()
    return json.dumps({"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "bench"}}]},
        "scopeMetrics": [{"metrics": [{"name": "bench.value", "gauge": {"dataPoints": [
            {"timeUnixNano": str(now), "asDouble": value}]}}]}]}]}).encode()


def post(port, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/metrics", data=body,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()


def one_round(binary):
    hook, otlp_http, admin = free_port(), free_port(), free_port()
    Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", hook), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as data:
        config = os.path.join(data, "agent.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(http=otlp_http, hook=hook, admin=admin, data=data))
        agent = subprocess.Popen([binary, "run", "--config", config],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120 and not Receiver.received:
                post(otlp_http, gauge(20.0))
                for _ in range(50):
                    if Receiver.received:
                        break
                    time.sleep(0.1)
            if not Receiver.received:
                raise SystemExit("no notification within 120 s")
            at, body = Receiver.received[0]
            assert body["status"] == "firing", body
            return at - t0
        finally:
            agent.terminate()
            agent.wait(timeout=20)
            server.shutdown()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/sentinel"
    results = []
    for i in range(rounds):
        latency = one_round(binary)
        results.append(latency)
        print(f"round {i + 1}: condition to webhook {latency:.1f} s", flush=True)
    print(f"median {statistics.median(results):.1f} s, min {min(results):.1f} s, max {max(results):.1f} s")


if __name__ == "__main__":
    main()
