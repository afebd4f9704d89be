"""Benchmark client for `clamator-bench --peer-python`: the published Python
`clamator-over-redis` RedisRpcClient calling `arith.add` (or `arith.echoText`) as fast as
it can, measured the way clamator-bench measures the Rust client.

Protocol:
  stdin  : ONE JSON object {"redisUrl", "keyPrefix", "calls", "concurrency",
           "payloadBytes"?: N (call echoText with a text of N bytes instead of add)}
  stdout : ONE JSON line {"calls", "failed", "seconds", "calls_per_sec", "p50_us", "p90_us",
           "p99_us", "max_us", "client_peak_rss_kib"}
  exit   : 0 when the figures were printed, 2 on bad input
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clamator_over_redis import RedisRpcClient  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from driver_io import read_json_object, run_driver  # noqa: E402


def percentile(sorted_us: list[int], q: float) -> int:
    if not sorted_us:
        return 0
    return sorted_us[min(len(sorted_us) - 1, int(len(sorted_us) * q))]


async def main() -> int:
    try:
        cfg = read_json_object()
        redis_url = cfg["redisUrl"]
        key_prefix = cfg["keyPrefix"]
        calls = int(cfg["calls"])
        concurrency = max(1, int(cfg["concurrency"]))
        payload = cfg.get("payloadBytes")
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"bench_client.py: bad stdin config: {e!r}\n")
        return 2

    if payload is None:
        method, params = "add", {"a": 1.5, "b": 2.25}
    else:
        method, params = "echoText", {"text": "x" * int(payload)}

    redis = Redis.from_url(redis_url, max_connections=concurrency + 16)
    client = RedisRpcClient(redis=redis, key_prefix=key_prefix, default_timeout_ms=30_000)
    latencies: list[int] = []
    failed = 0
    remaining = calls

    async def caller() -> None:
        nonlocal remaining, failed
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            try:
                await client.call("arith", method, params)
            except Exception:  # noqa: BLE001
                failed += 1
                continue
            latencies.append(int((time.perf_counter() - started) * 1e6))

    await client.start()
    try:
        # One untimed call, so the first measured call does not pay for connecting.
        await client.call("arith", method, params)
        began = time.perf_counter()
        cpu_began = time.process_time()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
    finally:
        await client.stop()
        await redis.aclose()

    latencies.sort()
    done = len(latencies)
    figures = {
        "calls": done,
        "failed": failed,
        "seconds": round(seconds, 3),
        "calls_per_sec": round(done / seconds) if seconds > 0 else 0,
        "p50_us": percentile(latencies, 0.50),
        "p90_us": percentile(latencies, 0.90),
        "p99_us": percentile(latencies, 0.99),
        "max_us": latencies[-1] if latencies else 0,
        "client_peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "client_cpu_s": round(cpu, 3),
    }
    sys.stdout.write(json.dumps(figures) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    run_driver(main)
