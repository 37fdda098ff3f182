"""Whole-agent benchmarks with the load generator (not a test: figures, not assertions).

1. `fixed`:     agent CPU (% of one core) and RSS while passing 10k spans/s from `otlp` to
                `blackhole`, in the Collector testbed's shape (100 spans/request, 2 int attrs).
2. `saturate`:  spans/s flat out through `otlp` -> `batch` -> `otlp` exporter -> a second
                agent with `blackhole`.
3. `ack`:       ack latency p50/p99 at 10k spans/s through a disk queue with fsync interval 10ms,
                plus disk bytes written per span.

Usage: python3 tests/bench/agent_bench.py [fixed|saturate|ack|all]
Builds nothing: run `cargo build --release -p sentinel-agent -p sentinel-tests` first.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENTINEL = os.path.join(ROOT, "target", "release", "sentinel")
LOADGEN = os.path.join(ROOT, "target", "release", "loadgen")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def start_agent(workdir, name, config, admin):
    path = os.path.join(workdir, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(config)
    log = open(os.path.join(workdir, f"{name}.log"), "w")
    proc = subprocess.Popen([SENTINEL, "run", "--config", path], stdout=log, stderr=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", admin), timeout=1) as s:
                s.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
                if b" 200 " in s.recv(100):
                    return proc
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{name} did not become ready; see {workdir}/{name}.log")


def blackhole_config(grpc, admin):
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  blackhole:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [blackhole]
"""


def loadgen(grpc, rate, seconds, concurrency=1, extra=()):
    out = subprocess.run(
        [LOADGEN, "--endpoint", f"http://127.0.0.1:{grpc}", "--rate", str(rate),
         "--duration", str(seconds), "--spans-per-request", "100", "--attributes", "2",
         "--concurrency", str(concurrency), *extra],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sample(pids, seconds, warmup):
    """Average CPU % of one core and average/max RSS (MiB) of each pid after a warmup."""
    time.sleep(warmup)
    start = {p: cpu_seconds(p) for p in pids}
    rss = {p: [] for p in pids}
    t0 = time.time()
    while time.time() - t0 < seconds:
        for p in pids:
            rss[p].append(rss_bytes(p))
        time.sleep(1)
    elapsed = time.time() - t0
    return {p: {"cpu_pct": 100 * (cpu_seconds(p) - start[p]) / elapsed,
                "rss_avg_mib": sum(rss[p]) / len(rss[p]) / 2**20,
                "rss_max_mib": max(rss[p]) / 2**20} for p in pids}


def bench_fixed(workdir):
    grpc, admin = free_port(), free_port()
    agent = start_agent(workdir, "fixed", blackhole_config(grpc, admin), admin)
    try:
        idle = sample([agent.pid], 3, 0)[agent.pid]
        gen = subprocess.Popen(
            [LOADGEN, "--endpoint", f"http://127.0.0.1:{grpc}", "--rate", "10000",
             "--duration", "25", "--spans-per-request", "100", "--attributes", "2"],
            stdout=subprocess.PIPE, text=True)
        busy = sample([agent.pid], 15, 5)[agent.pid]
        summary = json.loads(gen.communicate()[0].strip().splitlines()[-1])
        return {"idle": idle, "at_10k_spans_per_s": busy, "loadgen": summary}
    finally:
        agent.terminate()
        agent.wait()


def bench_saturate(workdir, queue="memory"):
    b_grpc, b_admin = free_port(), free_port()
    a_grpc, a_admin = free_port(), free_port()
    b = start_agent(workdir, f"sat-b-{queue}", blackhole_config(b_grpc, b_admin), b_admin)
    queue_cfg = ("      type: memory\n" if queue == "memory" else
                 f"      type: disk\n      directory: {workdir}/queue-sat\n      fsync:\n        interval: 10ms\n")
    a_config = f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{a_grpc}
processors:
  batch:
exporters:
  otlp:
    endpoint: 127.0.0.1:{b_grpc}
    tls:
      insecure: true
    sending_queue:
{queue_cfg}service:
  telemetry:
    metrics:
      address: 127.0.0.1:{a_admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
"""
    a = start_agent(workdir, f"sat-a-{queue}", a_config, a_admin)
    try:
        gen = subprocess.Popen(
            [LOADGEN, "--endpoint", f"http://127.0.0.1:{a_grpc}", "--rate", "0",
             "--duration", "20", "--spans-per-request", "100", "--attributes", "2",
             "--concurrency", "128"], stdout=subprocess.PIPE, text=True)
        usage = sample([a.pid, b.pid], 12, 4)
        summary = json.loads(gen.communicate()[0].strip().splitlines()[-1])
        return {"queue": queue, "agent_a": usage[a.pid], "agent_b": usage[b.pid], "loadgen": summary}
    finally:
        for p in (a, b):
            p.terminate()
            p.wait()


def bench_ack(workdir):
    b_grpc, b_admin = free_port(), free_port()
    a_grpc, a_admin = free_port(), free_port()
    b = start_agent(workdir, "ack-b", blackhole_config(b_grpc, b_admin), b_admin)
    qdir = os.path.join(workdir, "queue-ack")
    a_config = f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{a_grpc}
exporters:
  otlp:
    endpoint: 127.0.0.1:{b_grpc}
    tls:
      insecure: true
    sending_queue:
      type: disk
      directory: {qdir}
      fsync:
        interval: 10ms
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{a_admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"""
    a = start_agent(workdir, "ack-a", a_config, a_admin)
    try:
        with open(f"/proc/{a.pid}/io") as f:
            before = dict(l.split(": ") for l in f.read().splitlines())
        summary = loadgen(a_grpc, 10000, 20, concurrency=4)
        with open(f"/proc/{a.pid}/io") as f:
            after = dict(l.split(": ") for l in f.read().splitlines())
        written = int(after["write_bytes"]) - int(before["write_bytes"])
        wchar = int(after["wchar"]) - int(before["wchar"])
        spans = max(summary["acked_spans"], 1)
        return {"loadgen": summary, "disk_bytes_per_span": written / spans,
                "written_bytes_per_span_incl_sockets": wchar / spans}
    finally:
        for p in (a, b):
            p.terminate()
            p.wait()


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    with tempfile.TemporaryDirectory() as workdir:
        results = {}
        if which in ("fixed", "all"):
            results["fixed"] = bench_fixed(workdir)
        if which in ("saturate", "all"):
            results["saturate_memory"] = bench_saturate(workdir, "memory")
            results["saturate_disk"] = bench_saturate(workdir, "disk")
        if which in ("ack", "all"):
            results["ack"] = bench_ack(workdir)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
