"""Side-by-side comparison of Sentinel with other OTLP agents (issue 18 §7).

Not a test: it prints figures. Run it through tests/bench/compare.sh, which documents the
options. Every agent under test is pinned to one core (taskset), the load generator and the
counting sink to another (the load generators niced below the sink); rounds interleave the agents (A, B, A, B, ...) so that noise from
the machine falls on all of them alike; figures are medians with min-max over the rounds.

Scenarios (names for --scenarios):
  grpc10k   10k spans/s over OTLP/gRPC -> blackhole: agent CPU % of one core, RSS MiB
  http10k   the same over OTLP/HTTP protobuf
  flat1x64  flat out, 1 load process x 64 connections -> blackhole: spans per agent CPU-second
  flat8x64  flat out, 8 load processes x 64 connections
  hop2mem   two hops, 8 x 64 -> agent A (memory queue) -> counting sink: acknowledged spans/s,
            agent A RSS MiB
  hop2disk  the same with a disk queue at agent A (agents without a disk-queue command skip it)
  overload  two hops (memory queue): the knee (most acknowledged spans/s while the agent keeps
            up with a fixed offered rate, swept 100k..1.2M), then acknowledged spans/s flat
            out at 8 x 64; goal: overload / knee >= 1

Every scenario checks acknowledged spans (load generator) == delivered spans (counted at the
last hop: the Sentinel sink's exporter for two hops; the agent's own exporter counter for one
hop, where only Sentinel agents can be counted).
"""

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SCENARIOS = ["grpc10k", "http10k", "flat1x64", "flat8x64", "hop2mem", "hop2disk", "overload"]
# Offered rates (spans/s) of the overload scenario's sweep towards the knee.
SWEEP = [100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 1_000_000, 1_200_000]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_runtimes(pid):
    """Scheduler run time (ns) of each live thread: exact, where /proc/PID/stat counts
    10 ms ticks (a light load runs 15-25 ticks in a 10 s window)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


class CpuWindow:
    """CPU seconds a process uses from now to `seconds()`: summed thread run times when
    the same threads lived through the window, else (a thread came or went, and an exited
    thread's time is not in any schedstat) the tick counts of /proc/PID/stat."""

    def __init__(self, pid):
        self.pid = pid
        self.ticks, self.threads = cpu_seconds(pid), thread_runtimes(pid)

    def seconds(self):
        ticks, threads = cpu_seconds(self.pid), thread_runtimes(self.pid)
        if threads and threads.keys() == self.threads.keys():
            return sum(threads[t] - self.threads[t] for t in threads) / 1e9
        return ticks - self.ticks


def rss_mib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def wait_port(port, proc, what, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {seconds}s")


# Processor configs the forwarding agent's pipeline may list (`--hop-processors`).
PROCESSOR_CONFIGS = {"batch": "  batch:\n", "memory_limiter": "  memory_limiter:\n    limit_mib: 256\n"}


def sentinel_config(ports, mode, workdir, hop_processors=()):
    """Config of a Sentinel agent: `blackhole`, `sink` (counting last hop), `mem` or `disk`.
    The forwarding modes list `hop_processors` in their pipeline."""
    receivers = f"""receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{ports['grpc']}
      http:
        endpoint: 127.0.0.1:{ports['http']}
"""
    if mode in ("blackhole", "sink"):
        exporters, processors, names = "exporters:\n  blackhole:\n", "", ("", "blackhole")
    else:
        queue = "      type: memory\n" if mode == "mem" else (
            f"      type: disk\n      directory: {workdir}/queue-{ports['grpc']}\n"
            "      fsync:\n        interval: 10ms\n")
        exporters = f"""exporters:
  otlp:
    endpoint: 127.0.0.1:{ports['next']}
    compression: none
    tls:
      insecure: true
    sending_queue:
{queue}"""
        processors = "".join(PROCESSOR_CONFIGS[name] for name in hop_processors)
        processors = f"processors:\n{processors}" if processors else ""
        names = (", ".join(hop_processors), "otlp")
    return f"""{receivers}{processors}{exporters}service:
  telemetry:
    metrics:
      address: 127.0.0.1:{ports['admin']}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{names[0]}]
      exporters: [{names[1]}]
"""


def processor_list(text):
    names = tuple(n for n in (text or "").split("+") if n)
    unknown = [n for n in names if n not in PROCESSOR_CONFIGS]
    if unknown:
        raise SystemExit(f"unknown hop processor(s): {', '.join(unknown)}")
    return names


class Agent:
    """An agent under test: a Sentinel binary (configs made here) or command templates."""

    def __init__(self, name, sentinel=None, templates=None, env=None, hop_processors=()):
        self.name, self.sentinel, self.templates = name, sentinel, templates or {}
        self.env = dict(os.environ, **(env or {}))
        self.hop_processors = hop_processors

    def supports(self, mode):
        return self.sentinel is not None or mode in self.templates

    def start(self, mode, ports, core, workdir):
        log = open(os.path.join(workdir, f"{self.name}-{mode}-{ports['grpc']}.log"), "w")
        if self.sentinel:
            path = os.path.join(workdir, f"{self.name}-{mode}-{ports['grpc']}.yaml")
            with open(path, "w") as f:
                f.write(sentinel_config(ports, mode, workdir, self.hop_processors))
            argv = [self.sentinel, "run", "--config", path]
        else:
            argv = shlex.split(self.templates[mode].format(**ports))
        proc = subprocess.Popen(["taskset", "-c", str(core), *argv], stdout=log, stderr=log,
                                env=self.env)
        wait_port(ports["grpc"], proc, f"{self.name} ({mode})")
        if self.sentinel:
            wait_port(ports["admin"], proc, f"{self.name} admin")
        return proc


def exporter_sent(admin):
    """Items Sentinel's exporters report as sent, or None if unreadable."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2).read()
    except OSError:
        return None
    total = 0
    for line in text.decode().splitlines():
        if line.startswith("sentinel_component_sent_items_total{") and \
                'component_kind="exporter"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def settled_count(admin, expected, seconds=10):
    """The exporter count once it reaches `expected` or stops moving."""
    last, deadline = None, time.time() + seconds
    while time.time() < deadline:
        now = exporter_sent(admin)
        if now is not None and (now >= expected or now == last):
            return now
        last = now
        time.sleep(0.5)
    return last


def start_load(args, port, protocol, rate, seconds, procs, conns):
    endpoint = f"http://127.0.0.1:{port}"
    gens = []
    for i in range(procs):
        # Niced: on the load core the counting sink of the two-hop scenarios must not be
        # starved by load generators sending flat out (the sink would be measured, not A).
        argv = ["nice", "-n", "10", "taskset", "-c", str(args.load_core), args.loadgen,
                "--endpoint", endpoint,
                "--rate", str(rate // procs if rate else 0), "--duration", str(seconds),
                "--spans-per-request", "100", "--attributes", "2", "--concurrency", str(conns),
                "--protocol", protocol, "--start-seq", str(i * 10**12)]
        gens.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True))
    return gens


def finish_load(gens):
    out = {"acked_spans": 0, "refused_requests": 0, "failed_requests": 0, "acked_spans_per_s": 0.0}
    for gen in gens:
        summary = json.loads(gen.communicate()[0].strip().splitlines()[-1])
        for key in out:
            out[key] += summary[key]
    return out


def ports():
    return {"grpc": free_port(), "http": free_port(), "admin": free_port(), "next": 0}


def run_fixed(args, agent, protocol, workdir):
    p = ports()
    proc = agent.start("blackhole", p, args.agent_core, workdir)
    try:
        time.sleep(0.5)
        port = p["grpc"] if protocol == "grpc" else p["http"]
        gens = start_load(args, port, protocol, 10_000, args.warmup + args.measure + 1, 1, 1)
        time.sleep(args.warmup)
        cpu, rss, t0 = CpuWindow(proc.pid), [], time.time()
        while time.time() - t0 < args.measure:
            rss.append(rss_mib(proc.pid))
            time.sleep(0.5)
        cpu_pct = 100 * cpu.seconds() / (time.time() - t0)
        load = finish_load(gens)
        delivered = settled_count(p["admin"], load["acked_spans"]) if agent.sentinel else None
        return {"cpu_pct": cpu_pct, "rss_mib": statistics.mean(rss)}, load, delivered
    finally:
        proc.terminate()
        proc.wait()


def run_flat(args, agent, procs, workdir):
    p = ports()
    proc = agent.start("blackhole", p, args.agent_core, workdir)
    try:
        time.sleep(0.5)
        window = CpuWindow(proc.pid)
        load = finish_load(start_load(args, p["grpc"], "grpc", 0, args.measure, procs, 64))
        cpu = window.seconds()
        delivered = settled_count(p["admin"], load["acked_spans"]) if agent.sentinel else None
        return {"spans_per_cpu_s": load["acked_spans"] / max(cpu, 1e-9),
                "acked_spans_per_s": load["acked_spans_per_s"]}, load, delivered
    finally:
        proc.terminate()
        proc.wait()


def run_two_hops(args, agent, mode, workdir):
    sink_ports = ports()
    sink = Agent("sink", sentinel=args.sentinel).start("sink", sink_ports, args.load_core, workdir)
    p = ports()
    p["next"] = sink_ports["grpc"]
    proc = agent.start(mode, p, args.agent_core, workdir)
    try:
        time.sleep(0.5)
        gens = start_load(args, p["grpc"], "grpc", 0, args.measure, 8, 64)
        rss, t0 = [], time.time()
        while any(g.poll() is None for g in gens):
            rss.append(rss_mib(proc.pid))
            time.sleep(0.5)
        load = finish_load(gens)
        delivered = settled_count(sink_ports["admin"], load["acked_spans"], seconds=30)
        requests = load["acked_spans"] / 100 + load["refused_requests"]
        return {"acked_spans_per_s": load["acked_spans_per_s"], "rss_mib": max(rss),
                "refused_pct": 100 * load["refused_requests"] / max(requests, 1)}, load, delivered
    finally:
        for p_ in (proc, sink):
            p_.terminate()
            p_.wait()


def run_overload(args, agent, workdir):
    """Two hops (memory queue): the knee, the most acknowledged spans/s at an offered rate
    the agent still keeps up with (>= 95 % acknowledged), found by sweeping fixed rates;
    then flat out (8 x 64, several times the knee) for the acknowledged spans/s under
    overload. The agent and the sink run through the whole sweep."""
    sink_ports = ports()
    sink = Agent("sink", sentinel=args.sentinel).start("sink", sink_ports, args.load_core, workdir)
    p = ports()
    p["next"] = sink_ports["grpc"]
    proc = agent.start("mem", p, args.agent_core, workdir)
    step = max(args.measure / 2, 5)
    try:
        time.sleep(0.5)
        knee, best, acked = None, 0.0, 0
        for rate in SWEEP:
            load = finish_load(start_load(args, p["grpc"], "grpc", rate, step, 4, 64))
            acked += load["acked_spans"]
            best = max(best, load["acked_spans_per_s"])
            print(f"overload sweep {agent.name}: offered {rate}/s, acked "
                  f"{load['acked_spans_per_s']:.0f}/s", file=sys.stderr)
            if load["acked_spans_per_s"] < 0.95 * rate:
                break
            knee = load["acked_spans_per_s"]
            time.sleep(2)
        time.sleep(2)
        load = finish_load(start_load(args, p["grpc"], "grpc", 0, args.measure, 8, 64))
        acked += load["acked_spans"]
        knee = knee if knee is not None else best
        delivered = settled_count(sink_ports["admin"], acked, seconds=30)
        total = dict(load, acked_spans=acked)
        return {"knee_acked_spans_per_s": knee,
                "overload_acked_spans_per_s": load["acked_spans_per_s"],
                "overload_over_knee": load["acked_spans_per_s"] / max(knee, 1e-9)}, total, delivered
    finally:
        for p_ in (proc, sink):
            p_.terminate()
            p_.wait()


def run(args, agent, scenario, workdir):
    if scenario == "overload":
        return run_overload(args, agent, workdir)
    if scenario == "grpc10k":
        return run_fixed(args, agent, "grpc", workdir)
    if scenario == "http10k":
        return run_fixed(args, agent, "http", workdir)
    if scenario == "flat1x64":
        return run_flat(args, agent, 1, workdir)
    if scenario == "flat8x64":
        return run_flat(args, agent, 8, workdir)
    return run_two_hops(args, agent, "mem" if scenario == "hop2mem" else "disk", workdir)


MODE = {"grpc10k": "blackhole", "http10k": "blackhole", "flat1x64": "blackhole",
        "flat8x64": "blackhole", "hop2mem": "mem", "hop2disk": "disk", "overload": "mem"}


def summarize(results, agents, out):
    """Medians with min-max, and ratios of the first agent to each other one."""
    lines = ["| scenario | figure | " + " | ".join(a.name for a in agents) + " | " +
             " | ".join(f"{agents[0].name} / {a.name}" for a in agents[1:]) + " | ack check |",
             "|---" * (2 + len(agents) + len(agents) - 1 + 1) + "|"]
    for scenario, by_agent in results.items():
        figures = next(iter(v for v in by_agent.values() if v))[0]["figures"].keys()
        for figure in figures:
            cells, medians = [], {}
            for a in agents:
                rounds = by_agent.get(a.name) or []
                values = [r["figures"][figure] for r in rounds]
                if not values:
                    cells.append("n/a")
                    continue
                medians[a.name] = statistics.median(values)
                cells.append(f"{fmt(medians[a.name])} [{fmt(min(values))}–{fmt(max(values))}]")
            ratios = [f"{medians[agents[0].name] / medians[a.name]:.2f}"
                      if agents[0].name in medians and medians.get(a.name) else "n/a"
                      for a in agents[1:]]
            checks = ",".join(f"{a.name}:{ack_check(by_agent.get(a.name) or [])}" for a in agents)
            lines.append(f"| {scenario} | {figure} | " + " | ".join(cells) + " | " +
                         " | ".join(ratios) + f" | {checks} |")
    text = "\n".join(lines)
    print(text)
    out.write(text + "\n")


def ack_check(rounds):
    if not rounds:
        return "n/a"
    if any(r["delivered"] is None for r in rounds):
        return "uncounted"
    bad = [r for r in rounds if r["delivered"] != r["acked"]]
    return "ok" if not bad else f"MISMATCH({len(bad)})"


def fmt(value):
    if value < 10:
        return f"{value:.2f}"
    if value >= 100_000:
        return f"{value / 1e6:.2f}M"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentinel", required=True, help="the Sentinel binary under test (A)")
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--variant", action="append", default=[],
                        help="another Sentinel to compare, NAME:PATH[:KEY=VALUE,...] (env, e.g. "
                        "LD_PRELOAD of another allocator); repeatable")
    parser.add_argument("--peer-name", default="peer")
    parser.add_argument("--peer-blackhole", help="command template: listen on {grpc} and {http}, "
                        "discard everything")
    parser.add_argument("--peer-forward", help="command template: listen on {grpc}, forward over "
                        "OTLP/gRPC to 127.0.0.1:{next} with a memory queue")
    parser.add_argument("--peer-forward-disk", help="the same with a disk queue")
    parser.add_argument("--peer-env", action="append", default=[], help="KEY=VALUE for the peer")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--measure", type=float, default=10)
    parser.add_argument("--agent-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--out", default="compare-results")
    parser.add_argument("--hop-processors", default="",
                        help="processors of the forwarding Sentinel's pipeline, '+'-separated "
                             f"({', '.join(PROCESSOR_CONFIGS)}); none by default: the sending "
                             "queue merges records into exports of up to 8192 items itself")
    args = parser.parse_args()

    hop = processor_list(args.hop_processors)
    agents = [Agent("sentinel", sentinel=os.path.abspath(args.sentinel), hop_processors=hop)]
    for spec in args.variant:
        name, path, *env = spec.split(":", 2)
        env = dict(kv.split("=", 1) for kv in env[0].split(",")) if env else {}
        # `processors=a+b` is not an environment variable: the variant's hop processors.
        variant_hop = processor_list(env.pop("processors", None)) if "processors" in env else hop
        agents.append(Agent(name, sentinel=os.path.abspath(path), env=env,
                            hop_processors=variant_hop))
    templates = {k: v for k, v in (("blackhole", args.peer_blackhole), ("mem", args.peer_forward),
                                   ("disk", args.peer_forward_disk)) if v}
    if templates:
        env = dict(kv.split("=", 1) for kv in args.peer_env)
        agents.append(Agent(args.peer_name, templates=templates, env=env))
    args.sentinel = agents[0].sentinel
    os.makedirs(args.out, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as workdir, \
            open(os.path.join(args.out, "rounds.jsonl"), "a") as rounds_log:
        for scenario in args.scenarios.split(","):
            results[scenario] = {a.name: [] for a in agents if a.supports(MODE[scenario])}
            for round_no in range(args.rounds):
                for agent in agents:
                    if not agent.supports(MODE[scenario]):
                        continue
                    figures, load, delivered = run(args, agent, scenario, workdir)
                    record = {"scenario": scenario, "agent": agent.name, "round": round_no,
                              "figures": figures, "acked": load["acked_spans"],
                              "delivered": delivered, "load": load, "at": time.time()}
                    results[scenario][agent.name].append(record)
                    rounds_log.write(json.dumps(record) + "\n")
                    rounds_log.flush()
                    print(json.dumps(record), file=sys.stderr)
    with open(os.path.join(args.out, "table.md"), "w") as out:
        summarize(results, agents, out)


if __name__ == "__main__":
    main()
