"""Whole-agent sampling benchmarks with the load generator (figures, not assertions).

1. `fixed`:  agent CPU (% of one core) and RSS at 10k spans/s (100 spans/request, 2 int
             attributes, one span per trace as the load generator makes them) through
             otlp -> PROCESSOR -> blackhole, for no processor, probabilistic_sampler at 10%,
             and tail_sampling (errors + latency + 10% probabilistic, decision_wait 5s).
             With `--rotel PATH`, Rotel's blackhole at the same load for comparison (it has
             no sampler); ROTEL_PRELOAD=/path/nodelay.so preloads the peer's TCP_NODELAY shim.
2. `storm`:  distinct one-span traces at --rate (default 100k/s) for 30 s into
             tail_sampling with a 64 MiB budget and decision_wait 30s: acknowledged
             spans/s, agent CPU, peak RSS, early decisions.
3. `ceiling`: the same storm flat out (rate 0, 8 connections): the highest traces/s the
             agent acknowledges at a 64 MiB budget.

The agent is pinned to CPU 0 and the load generator to CPU 1 when `taskset` exists.
Usage: python3 tests/bench/sampling_bench.py [fixed|storm|ceiling|all] [--rotel PATH]
Builds nothing: run `cargo build --release -p sentinel-agent -p sentinel-tests` first.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_bench import LOADGEN, cpu_seconds, free_port, rss_bytes, start_agent  # noqa: E402

PIN = shutil.which("taskset") is not None


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu), *argv] if PIN else argv


def start(workdir, name, processor, grpc, admin):
    processors = f"processors:\n  {processor}\n" if processor else ""
    uses = f"      processors: [{processor.split(':')[0]}]\n" if processor else ""
    config = f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
{processors}exporters:
  blackhole:
service:
  data_dir: {workdir}/data-{name}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
{uses}      exporters: [blackhole]
"""
    proc = start_agent(workdir, name, config, admin)
    pin_all_threads(proc.pid, 0)
    return proc


def pin_all_threads(pid, cpu):
    if PIN:
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)],
                       check=True, stdout=subprocess.DEVNULL)


def metric(admin, prefix, contains=""):
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix) and contains in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_load(grpc, rate, seconds, spans_per_request, concurrency):
    return subprocess.Popen(
        pinned(1, [LOADGEN, "--endpoint", f"http://127.0.0.1:{grpc}", "--rate", str(rate),
                   "--duration", str(seconds), "--spans-per-request", str(spans_per_request),
                   "--attributes", "2", "--concurrency", str(concurrency)]),
        stdout=subprocess.PIPE, text=True)


def measure(pid, gen, warmup, seconds):
    time.sleep(warmup)
    cpu0, rss, t0 = cpu_seconds(pid), [], time.time()
    while time.time() - t0 < seconds:
        rss.append(rss_bytes(pid))
        time.sleep(1)
    elapsed = time.time() - t0
    usage = {"cpu_pct": round(100 * (cpu_seconds(pid) - cpu0) / elapsed, 1),
             "rss_avg_mib": round(sum(rss) / len(rss) / 2**20, 1),
             "rss_max_mib": round(max(rss) / 2**20, 1)}
    usage["loadgen"] = json.loads(gen.communicate()[0].strip().splitlines()[-1])
    return usage


TAIL = ("tail_sampling:\n    decision_wait: 5s\n    num_traces: 200000\n    policies:\n"
        "      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n"
        "      - {name: slow, type: latency, latency: {threshold_ms: 500}}\n"
        "      - {name: some, type: probabilistic, probabilistic: {sampling_percentage: 10}}")
FIXED = [("none", None),
         ("probabilistic_sampler", "probabilistic_sampler:\n    sampling_percentage: 10"),
         ("tail_sampling", TAIL)]


def bench_fixed(workdir, rotel):
    # ROTEL_PRELOAD: the TCP_NODELAY shim the peer's README asks for in fair comparisons.
    shim = os.environ.get("ROTEL_PRELOAD")
    preload = {"LD_PRELOAD": shim} if shim else {}
    results = {}
    for name, processor in FIXED:
        grpc, admin = free_port(), free_port()
        agent = start(workdir, f"fixed-{name}", processor, grpc, admin)
        try:
            gen = run_load(grpc, 10000, 35, 100, 1)
            results[name] = measure(agent.pid, gen, 15, 18)
        finally:
            agent.terminate()
            agent.wait()
    if rotel:
        grpc, http = free_port(), free_port()
        proc = subprocess.Popen(pinned(0, [rotel, "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
                                           "--otlp-http-endpoint", f"127.0.0.1:{http}",
                                           "--exporter", "blackhole"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, **preload})
        try:
            time.sleep(2)
            gen = run_load(grpc, 10000, 35, 100, 1)
            results["rotel_blackhole"] = measure(proc.pid, gen, 15, 18)
        finally:
            proc.terminate()
            proc.wait()
    return results


STORM = ("tail_sampling:\n    decision_wait: 30s\n    num_traces: 10000000\n    max_memory_mib: 64\n"
         "    policies:\n      - {name: some, type: probabilistic, probabilistic: {sampling_percentage: 1}}")


def bench_storm(workdir, rate, concurrency):
    grpc, admin = free_port(), free_port()
    agent = start(workdir, f"storm-{rate}", STORM, grpc, admin)
    try:
        idle_rss = rss_bytes(agent.pid) / 2**20
        cpu0 = cpu_seconds(agent.pid)
        gen = run_load(grpc, rate, 30, 1000, concurrency)
        summary = json.loads(gen.communicate()[0].strip().splitlines()[-1])
        return {
            "target_rate": rate,
            "loadgen": summary,
            "agent_cpu_pct": round(100 * (cpu_seconds(agent.pid) - cpu0) / summary["elapsed_s"], 1),
            "idle_rss_mib": round(idle_rss, 1),
            "peak_rss_mib": round(peak_rss_mib(agent.pid), 1),
            "pending_bytes_mib": round(metric(admin, "sentinel_tail_sampling_pending_bytes") / 2**20, 1),
            "pending_traces": metric(admin, "sentinel_tail_sampling_pending_traces"),
            "early_memory_budget": metric(admin, "sentinel_tail_sampling_early_decisions_total",
                                          "memory_budget"),
        }
    finally:
        agent.terminate()
        agent.wait()


def main():
    which = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "all"
    rotel = sys.argv[sys.argv.index("--rotel") + 1] if "--rotel" in sys.argv else None
    rate = int(sys.argv[sys.argv.index("--rate") + 1]) if "--rate" in sys.argv else 100000
    with tempfile.TemporaryDirectory() as workdir:
        results = {}
        if which in ("fixed", "all"):
            results["fixed_10k_spans_per_s"] = bench_fixed(workdir, rotel)
        if which in ("storm", "all"):
            results["storm"] = bench_storm(workdir, rate, 4)
        if which in ("ceiling", "all"):
            results["ceiling"] = bench_storm(workdir, 0, 8)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
