#!/usr/bin/env python3
"""Measures clamator-rs beside what a Rust team could use instead, in one run, and prints the
Markdown table of docs/benchmarks.md ("What else you could use").

Rows: clamator-rs and the hand-written redis-rs baseline (clamator-bench, private
redis-server), tonic gRPC unary, core NATS request/reply and RabbitMQ RPC with direct reply-to
(compare/, private nats-server and RabbitMQ node), and the published Python clamator peer.
Every row is the median (by calls/s) of --runs runs; the runs of the systems alternate, so a
machine that gets busier part-way through slows every row alike.

    python3 scripts/compare.py [--runs 3] [--calls 60000] [--no-python] [--no-build]
                               [--worker-threads 2] [--mimalloc] [--before PATH]

`--before PATH` adds a row measured with another clamator-bench binary (an earlier commit's
`target/release/clamator-bench`, copied aside), in the same alternating runs, so a change is
reported before and after beside every other row.

Needs redis-server, nats-server and rabbitmq-server (Debian packages) and, for the Python row,
the venv the interop tests create (target/interop-venv). It builds clamator-bench in the
workspace and compare/ (its own workspace, so the project never compiles gRPC, NATS or AMQP
clients) in release mode first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "target", "release", "clamator-bench")
COMPARE = os.path.join(ROOT, "compare", "target", "release", "clamator-compare")

# (row name, command without the load flags, what it keeps when a process dies)
SYSTEMS = [
    ("clamator-rs", [BENCH], "a request stays in its stream until a server acknowledges it"),
    ("redis-rs baseline", [BENCH, "--baseline"], "as clamator-rs (same Redis commands)"),
    ("tonic gRPC unary", [COMPARE, "--system", "grpc"], "nothing: a call in flight fails with its connection"),
    ("core NATS request/reply", [COMPARE, "--system", "nats"], "nothing: a request no server reads is dropped"),
    ("RabbitMQ RPC, direct reply-to", [COMPARE, "--system", "amqp"],
     "a request stays queued until acknowledged (here not durable); replies are not kept"),
    ("clamator (Python peer)", [BENCH, "--peer-python"], "as clamator-rs"),
]


def build(mimalloc: bool) -> None:
    features = ["--features", "mimalloc"] if mimalloc else []
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "clamator-bench", *features],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path",
                    os.path.join(ROOT, "compare", "Cargo.toml"), *features], check=True)


def once(cmd: list[str], callers: int, calls: int, threads: int) -> dict:
    args = cmd + ["--concurrency", str(callers), "--server-concurrency", str(max(callers, 1)),
                  "--calls", str(calls), "--worker-threads", str(threads)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median(results: list[dict]) -> dict:
    ordered = sorted(results, key=lambda r: r["calls_per_sec"])
    return ordered[len(ordered) // 2]


def cpu(r: dict) -> str:
    c = r.get("cpu_s_per_10k_calls") or {}
    broker = c.get("redis", c.get("broker"))
    parts = [c.get("client"), c.get("server")]
    shown = [f"{p:.2f}" if p is not None else "?" for p in parts]
    shown.append(f"{broker:.2f}" if broker else "–")
    total = c.get("total")
    return " / ".join(shown) + (f" = {total:.2f}" if total is not None else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--calls", type=int, default=60000, help="calls per run at 64 callers")
    p.add_argument("--single-calls", type=int, default=5000, help="calls per run at 1 caller")
    p.add_argument("--no-python", action="store_true")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--worker-threads", type=int, default=2,
                   help="tokio worker threads of every Rust server and client (0: current-thread)")
    p.add_argument("--mimalloc", action="store_true",
                   help="build the Rust servers and clients with mimalloc as their allocator")
    p.add_argument("--before", metavar="PATH",
                   help="a clamator-bench binary of an earlier build: adds its clamator-rs row")
    a = p.parse_args()
    if not a.no_build:
        build(a.mimalloc)
    systems = [s for s in SYSTEMS if not (a.no_python and "--peer-python" in s[1])]
    if a.before:
        systems.insert(0, ("clamator-rs, before", [os.path.abspath(a.before)], SYSTEMS[0][2]))
    many: dict[str, list[dict]] = {name: [] for name, _, _ in systems}
    one: dict[str, list[dict]] = {name: [] for name, _, _ in systems}
    for run in range(a.runs):
        for name, cmd, _ in systems:
            python = "--peer-python" in cmd
            calls = min(a.calls, 6400) if python else a.calls
            single = min(a.single_calls, 2000) if python else a.single_calls
            many[name].append(once(cmd, 64, calls, a.worker_threads))
            one[name].append(once(cmd, 1, single, a.worker_threads))
            r = many[name][-1]
            print(f"run {run + 1}: {name}: {r['calls_per_sec']:.0f} calls/s, "
                  f"1 caller p50 {one[name][-1]['p50_us']} µs", file=sys.stderr)
    print("| system | 64 callers, calls/s | p50 | CPU s per 10k calls (client / server / broker) "
          "| 1 caller, p50 | kept when a process dies |")
    print("|---|---|---|---|---|---|")
    for name, _, kept in systems:
        m, s = median(many[name]), median(one[name])
        print(f"| {name} | {m['calls_per_sec']:,.0f} | {m['p50_us'] / 1000:.2f} ms | {cpu(m)} "
              f"| {s['p50_us']} µs | {kept} |")
    print()
    runs = {name: [r["calls_per_sec"] for r in many[name]] for name, _, _ in systems}
    print("runs (calls/s at 64 callers):", json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
