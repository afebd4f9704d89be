#!/usr/bin/env python3
"""Runs the clamator-bench matrix of docs/benchmarks.md and prints its Markdown table.

Each cell is the median (by calls/s) of --runs runs of clamator-rs, of the hand-written
baseline and of the published Python peer, each against its own private redis-server.

    cargo build --release -p clamator-bench
    python3 scripts/bench-matrix.py [--runs 3] [--no-python] [--bench target/release/clamator-bench]

--peer-python needs the venv the interop tests create (target/interop-venv; once:
cargo test -p clamator-testkit --test interop).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

# (callers, server concurrency, payload bytes or None for `add`)
CASES = [
    (1, 1, None),
    (1, 1, 16384),
    (16, 16, None),
    (16, 16, 16384),
    (64, 64, None),
    (64, 64, 16384),
    (256, 64, None),
    (256, 64, 16384),
    (64, 1, None),
]


def calls_for(callers: int, payload: int | None, mode: str) -> int:
    if mode == "python":
        return 2000 if callers == 1 else 6400
    base = 5000 if callers == 1 else max(20000, callers * 300)
    return base // 2 if payload else base


def run(bench: str, mode: str, callers: int, sc: int, payload: int | None, runs: int) -> dict:
    args = [bench, "--concurrency", str(callers), "--server-concurrency", str(sc),
            "--calls", str(calls_for(callers, payload, mode))]
    if payload:
        args += ["--payload-bytes", str(payload)]
    if mode == "baseline":
        args.append("--baseline")
    if mode == "python":
        args.append("--peer-python")
    results = []
    for _ in range(runs):
        out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    results.sort(key=lambda r: r["calls_per_sec"])
    median = results[len(results) // 2]
    median["all_calls_per_sec"] = [r["calls_per_sec"] for r in results]
    return median


def cpu(r: dict) -> str:
    c = r.get("cpu_s_per_10k_calls")
    if not c:
        return "?"
    return f"{c['client']:.2f} / {c['server']:.2f} / {c['redis']:.2f} = {c['total']:.2f}"


def mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.1f}"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-python", action="store_true")
    p.add_argument("--bench", default="target/release/clamator-bench")
    a = p.parse_args()
    print("| callers | server concurrency | payload | clamator-rs calls/s | baseline calls/s "
          "| Python peer calls/s | ÷ baseline | × Python | clamator-rs p50 / p99 µs "
          "| baseline p50 / p99 µs | Python p50 / p99 µs | peak RSS client / server MiB "
          "| CPU s per 10k calls, clamator-rs (client / server / Redis = total) "
          "| … baseline | … Python |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for callers, sc, payload in CASES:
        ours = run(a.bench, "clamator", callers, sc, payload, a.runs)
        base = run(a.bench, "baseline", callers, sc, payload, a.runs)
        py = None if a.no_python else run(a.bench, "python", callers, sc, payload, a.runs)
        for r in (ours, base, py):
            if r is not None:
                print(json.dumps(r), file=sys.stderr)
        py_rate = f"{py['calls_per_sec']:,.0f}" if py else "–"
        times_py = f"{ours['calls_per_sec'] / py['calls_per_sec']:.1f} ×" if py else "–"
        py_lat = f"{py['p50_us']} / {py['p99_us']}" if py else "–"
        print(
            f"| {callers} | {sc} | {'16 KiB' if payload else '64 B (`add`)'} "
            f"| {ours['calls_per_sec']:,.0f} | {base['calls_per_sec']:,.0f} | {py_rate} "
            f"| {100 * ours['calls_per_sec'] / base['calls_per_sec']:.0f} % | {times_py} "
            f"| {ours['p50_us']} / {ours['p99_us']} | {base['p50_us']} / {base['p99_us']} "
            f"| {py_lat} | {mib(ours['client_peak_rss_kib'])} / {mib(ours['server_peak_rss_kib'])} "
            f"| {cpu(ours)} | {cpu(base)} | {cpu(py) if py else '–'} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
