"""PostgreSQL exporter benchmark (figures, not assertions), in one run on one machine:

1. `exporter`: sustained spans/s from OTLP (load generator, 100 spans/request, 2 int attrs)
   through the agent's disk queue (fsync interval 10ms) into PostgreSQL, with durability on
   (fsync=on, synchronous_commit=on). Throughput is spans committed / time between the
   first and last COMMIT (track_commit_timestamp). `live`: while the client sends (16
   requests in flight, sharing the 2 cores); `drain`: a queue filled while the database
   was unreachable, delivered by a fresh agent.
2. `ceiling`: the same span rows, pre-built as a COPY BINARY file (exported from 1b),
   copied with one plain `\\copy ... FORMAT binary` through psql into the same (emptied)
   table with the same indexes.
3. `latency`: at 10k spans/s, per span COMMIT time minus the time the client built and
   sent the request (the span's start time). This bounds ack→COMMIT from above: the ack
   itself comes some milliseconds after the send (loadgen's ack p50/p99 are printed too).

Usage: python3 tests/bench/postgres_bench.py
Builds nothing: run `cargo build --release -p sentinel-agent -p sentinel-tests` first.
Needs the PostgreSQL server package (initdb). Runs as root via `runuser -u postgres`.
"""

import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SENTINEL = os.environ.get("SENTINEL_BIN", os.path.join(TARGET, "release", "sentinel"))
LOADGEN = os.environ.get("LOADGEN_BIN", os.path.join(TARGET, "release", "loadgen"))
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
ROOT_USER = os.geteuid() == 0
# Writer connections tried for the drain (`connections` of the exporter); the ratio uses
# the best. Override with SENTINEL_PG_BENCH_CONNECTIONS=1,2,4.
DRAIN_CONNECTIONS = [int(c) for c in
                     os.environ.get("SENTINEL_PG_BENCH_CONNECTIONS", "1,2").split(",")]
SPAN_COLUMNS = (
    "ts, trace_id, span_id, parent_span_id, trace_state, service_name, span_name, span_kind, "
    "duration_ns, status_code, status_message, http_route, http_status_code, gen_ai_model, "
    "scope_name, scope_version, attributes, resource_attributes, events, links"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if ROOT_USER else cmd


class Postgres:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        os.makedirs(self.dir)
        os.chmod(workdir, 0o755)
        if ROOT_USER:
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        subprocess.run(
            as_postgres([os.path.join(PG_BIN, "initdb"), "-A", "trust", "-U", "postgres",
                         "-E", "UTF8", "-D", os.path.join(self.dir, "data")]),
            check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        # Durability on (the defaults fsync=on, synchronous_commit=on); the reference
        # measurements used max_wal_size=4GB.
        self.proc = subprocess.Popen(
            as_postgres([os.path.join(PG_BIN, "postgres"), "-D", os.path.join(self.dir, "data"),
                         "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                         "-c", f"unix_socket_directories={self.dir}",
                         "-c", "max_wal_size=4GB", "-c", "track_commit_timestamp=on"]),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "postgres.log"), "w"))
        for _ in range(100):
            if subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", "127.0.0.1",
                               "-p", str(self.port)]).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("postgres did not start")

    def dsn(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def psql(self, sql):
        out = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v",
                              "ON_ERROR_STOP=1", self.dsn(), "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self):
        subprocess.run(as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D",
                                    os.path.join(self.dir, "data"), "-m", "fast", "stop"]),
                       stdout=subprocess.DEVNULL)
        self.proc.wait(timeout=60)


def start_agent(workdir, pg, name, dsn=None, queue=None, connections=1):
    grpc, admin = free_port(), free_port()
    dsn = dsn or pg.dsn()
    queue = queue or name
    config = f"""receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  postgres:
    dsn: {dsn}
    sslmode: disable
    connections: {connections}
    sending_queue:
      type: disk
      directory: {workdir}/{queue}-queue
      max_size: 4294967296
      num_consumers: 2
      fsync:
        interval: 10ms
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [postgres]
"""
    path = os.path.join(workdir, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(config)
    proc = subprocess.Popen([SENTINEL, "run", "--config", path],
                            stdout=open(os.path.join(workdir, f"{name}.log"), "w"),
                            stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", grpc), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    return proc, grpc


def loadgen(grpc, rate, seconds, concurrency, start_seq):
    out = subprocess.run([LOADGEN, "--endpoint", f"http://127.0.0.1:{grpc}", "--rate", str(rate),
                          "--duration", str(seconds), "--spans-per-request", "100",
                          "--concurrency", str(concurrency), "--start-seq", str(start_seq)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_stored(pg, want, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        have = int(pg.psql("SELECT count(*) FROM sentinel.spans"))
        if have >= want:
            return have
        time.sleep(1)
    return int(pg.psql("SELECT count(*) FROM sentinel.spans"))


def commit_rate(pg, stored):
    span = float(pg.psql(
        "SELECT extract(epoch FROM max(c) - min(c)) FROM "
        "(SELECT pg_xact_commit_timestamp(xmin) AS c FROM sentinel.spans) t"))
    transactions = int(pg.psql("SELECT count(DISTINCT xmin::text) FROM sentinel.spans"))
    return {"stored_spans": stored, "first_to_last_commit_s": round(span, 3),
            "transactions": transactions, "spans_per_s": round(stored / span)}


def main():
    workdir = tempfile.mkdtemp(prefix="pgbench-")
    pg = Postgres(workdir)
    results = {"postgres": pg.psql("SHOW server_version"),
               "fsync": pg.psql("SHOW fsync"),
               "synchronous_commit": pg.psql("SHOW synchronous_commit")}
    try:
        # 1a. Live: the client offers more than PostgreSQL takes (16 requests in flight);
        # the disk queue absorbs the difference.
        agent, grpc = start_agent(workdir, pg, "live")
        sent = loadgen(grpc, 400_000, 20, 16, 0)
        stored = wait_stored(pg, sent["acked_spans"], 300)
        results["exporter_live"] = {"client": sent, **commit_rate(pg, stored)}
        agent.terminate()
        agent.wait(timeout=30)
        pg.psql("TRUNCATE sentinel.spans")

        # 1b. Drain: the queue is filled while the database is unreachable, then a fresh
        # agent on the same queue delivers it; nothing else competes for the CPU. Once per
        # number of writer connections; the last drain's rows make the ceiling's file.
        for connections in DRAIN_CONNECTIONS:
            pg.psql("TRUNCATE sentinel.spans")
            pg.psql("CHECKPOINT")
            closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
            queue = f"drain{connections}"
            agent, grpc = start_agent(workdir, pg, f"fill{connections}", dsn=closed, queue=queue)
            filled = loadgen(grpc, 400_000, 15, 16, 100_000_000)
            agent.terminate()
            agent.wait(timeout=30)
            agent, _ = start_agent(workdir, pg, f"drain{connections}", queue=queue,
                                   connections=connections)
            stored = wait_stored(pg, filled["acked_spans"], 300)
            drain = commit_rate(pg, stored)
            results[f"exporter_drain_{connections}_connections"] = {
                "queued_spans": filled["acked_spans"], **drain}
            agent.terminate()
            agent.wait(timeout=30)
        exporter_rate = max(results[f"exporter_drain_{c}_connections"]["spans_per_s"]
                            for c in DRAIN_CONNECTIONS)

        # Ceiling: the same rows, pre-built as COPY BINARY, one plain COPY.
        rows_file = os.path.join(workdir, "spans.bin")
        pg.psql(f"\\copy (SELECT {SPAN_COLUMNS} FROM sentinel.spans) TO '{rows_file}' WITH (FORMAT binary)")
        pg.psql("TRUNCATE sentinel.spans")
        pg.psql("CHECKPOINT")
        started = time.time()
        pg.psql(f"\\copy sentinel.spans ({SPAN_COLUMNS}) FROM '{rows_file}' WITH (FORMAT binary)")
        took = time.time() - started
        ceiling = stored / took
        results["ceiling"] = {"rows": stored, "seconds": round(took, 3), "rows_per_s": round(ceiling),
                              "file_bytes": os.path.getsize(rows_file)}
        results["ratio_drain_to_ceiling"] = round(exporter_rate / ceiling, 3)
        results["ratio_live_to_ceiling"] = round(results["exporter_live"]["spans_per_s"] / ceiling, 3)

        # Latency at 10k spans/s on an emptied table.
        pg.psql("TRUNCATE sentinel.spans")
        pg.psql("CHECKPOINT")
        agent, grpc = start_agent(workdir, pg, "agent-latency")
        sent = loadgen(grpc, 10_000, 20, 2, 10_000_000)
        wait_stored(pg, sent["acked_spans"], 120)
        pcts = pg.psql(
            "SELECT string_agg(round(v::numeric, 2)::text, ' ') FROM (SELECT unnest(percentile_cont("
            "ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM "
            "pg_xact_commit_timestamp(xmin) - ts) * 1000)) AS v FROM sentinel.spans) p")
        p50, p95, p99 = [float(x) for x in pcts.split()]
        results["latency_10k"] = {"client": sent, "send_to_commit_ms_p50": p50,
                                  "send_to_commit_ms_p95": p95, "send_to_commit_ms_p99": p99}
        agent.terminate()
        agent.wait(timeout=30)
    finally:
        pg.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
