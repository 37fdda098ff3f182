"""Gateway throughput through the `loadbalancing` exporter (figures, not assertions).

The gateway agent takes OTLP/gRPC spans from the load generator flat out (100 spans per
request, 2 int attributes, every span its own trace: the most splitting work per request;
no `batch` processor, whose timeout would hold every acknowledgement and cap the rate) and
routes them by trace id to two backend agents that count and drop
(`blackhole`). The same run with the plain `otlp` exporter to one backend gives the
baseline. Reported: spans/s acknowledged, gateway CPU (% of one core), and spans per
gateway CPU-second, which is what sizing a gateway tier needs.

Usage: CARGO_TARGET_DIR=... python3 tests/bench/loadbalancing_bench.py [seconds]
Builds nothing: run `cargo build --release -p sentinel-agent -p sentinel-tests` first.
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_bench  # noqa: E402  (shared helpers: agents, loadgen, CPU sampling)

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(agent_bench.ROOT, "target"))
agent_bench.SENTINEL = os.path.join(TARGET, "release", "sentinel")
agent_bench.LOADGEN = os.path.join(TARGET, "release", "loadgen")


def gateway_config(grpc, admin, exporter):
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
{exporter}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [{exporter.split(':')[0].strip()}]
"""


def run(workdir, name, exporter_for, backends, seconds):
    started = []
    ports = []
    try:
        for n in range(backends):
            grpc, admin = agent_bench.free_port(), agent_bench.free_port()
            started.append(agent_bench.start_agent(
                workdir, f"{name}-backend{n}", agent_bench.blackhole_config(grpc, admin), admin))
            ports.append(grpc)
        grpc, admin = agent_bench.free_port(), agent_bench.free_port()
        gateway = agent_bench.start_agent(
            workdir, f"{name}-gateway", gateway_config(grpc, admin, exporter_for(ports)), admin)
        started.append(gateway)
        gen = subprocess.Popen(
            [agent_bench.LOADGEN, "--endpoint", f"http://127.0.0.1:{grpc}", "--rate", "0",
             "--duration", str(seconds), "--spans-per-request", "100", "--attributes", "2",
             "--concurrency", "64"], stdout=subprocess.PIPE, text=True)
        usage = agent_bench.sample([p.pid for p in started], seconds - 6, 3)
        summary = json.loads(gen.communicate()[0].strip().splitlines()[-1])
        rate = summary["acked_spans_per_s"]
        cpu = usage[gateway.pid]["cpu_pct"]
        return {
            "setup": name,
            "spans_per_s": round(rate),
            "gateway_cpu_pct_of_one_core": round(cpu, 1),
            "spans_per_gateway_cpu_second": round(rate / (cpu / 100)) if cpu else None,
            "gateway_rss_max_mib": round(usage[gateway.pid]["rss_max_mib"], 1),
            "backends_cpu_pct": [round(usage[p.pid]["cpu_pct"], 1) for p in started[:-1]],
            "loadgen": summary,
        }
    finally:
        for p in started:
            p.terminate()
            p.wait()


def loadbalancing(ports):
    hosts = ", ".join(f"127.0.0.1:{p}" for p in ports)
    return f"""  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        compression: none
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [{hosts}]"""


def otlp(ports):
    return f"""  otlp:
    endpoint: 127.0.0.1:{ports[0]}
    compression: none
    tls:
      insecure: true"""


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as workdir:
        for result in (run(workdir, "loadbalancing-2-backends", loadbalancing, 2, seconds),
                       run(workdir, "otlp-1-backend", otlp, 1, seconds)):
            print(json.dumps(result))


if __name__ == "__main__":
    main()
