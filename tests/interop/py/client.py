"""Interop client driver: the published Python `clamator-over-redis` RedisRpcClient.

Protocol (see README.md):
  stdin  : ONE JSON object
           {"redisUrl", "keyPrefix", "defaultTimeoutMs"?: 5000,
            "calls": [{"method": "arith.add", "params": {...}, "notification"?: false,
                       "timeoutMs"?: <per-call override>}],
            "concurrent"?: N}
           (extra keys such as "generatedDir" are ignored)
  stdout : ONE JSON line {"results": [...]}, one item per executed call, in order
           (with concurrent = N > 1: N copies of the call list run in parallel, results
           are copy 0's items, then copy 1's, ...)
  exit   : 0 when results were printed (whatever they contain), 2 on bad input
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clamator_over_redis import ClamatorTransportError, RedisRpcClient, RpcError  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from driver_io import read_json_object, run_driver  # noqa: E402

# redis-py 8.x caps an asyncio pool at 100 connections by default (5.2.1, pinned in
# requirements.txt, does not). The client transport takes one pooled connection per
# in-flight XADD plus one for the blocking reply XREAD, so under 8.x 100 concurrent calls
# would fail one XADD with MaxConnectionsError ("xadd failed").
# The driver therefore builds its own Redis client (as the original drivers did) with a
# pool sized for the requested fan-out, and closes it itself (injected = not owned).
MIN_POOL = 128




async def run_one(client: RedisRpcClient, call: dict[str, Any]) -> dict[str, Any]:
    try:
        full = call["method"]
        service, _, method = full.partition(".")
        params = call.get("params", {})
        if call.get("notification"):
            await client.notify(service, method, params)
            return {"ok": True, "kind": "notification"}
        timeout_ms = call.get("timeoutMs")
        result = await client.call(
            service, method, params,
            timeout_ms=int(timeout_ms) if timeout_ms is not None else None,
        )
        return {"ok": True, "kind": "result", "result": result}
    except RpcError as e:
        return {
            "ok": False, "kind": "rpc-error",
            "code": e.code, "message": e.message, "data": e.data,
        }
    except ClamatorTransportError as e:
        return {"ok": False, "kind": "transport-error", "message": str(e)}
    except Exception as e:  # noqa: BLE001  # ClamatorProtocolError, ValueError, redis errors
        return {"ok": False, "kind": "unknown-error", "message": f"{type(e).__name__}: {e}"}


async def run_sequence(client: RedisRpcClient, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [await run_one(client, c) for c in calls]


async def main() -> int:
    try:
        cfg = read_json_object()
        redis_url = cfg["redisUrl"]
        key_prefix = cfg["keyPrefix"]
        calls = list(cfg.get("calls") or [])
        concurrent = int(cfg.get("concurrent") or 1)
        default_timeout_ms = int(cfg.get("defaultTimeoutMs") or 5000)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"client.py: bad stdin config: {e!r}\n")
        return 2

    redis = Redis.from_url(redis_url, max_connections=max(MIN_POOL, concurrent + 16))
    client = RedisRpcClient(
        redis=redis, key_prefix=key_prefix, default_timeout_ms=default_timeout_ms,
    )
    try:
        await client.start()
        try:
            if concurrent > 1:
                batches = await asyncio.gather(
                    *(run_sequence(client, calls) for _ in range(concurrent))
                )
                results = [r for batch in batches for r in batch]
            else:
                results = await run_sequence(client, calls)
        finally:
            await client.stop()
    finally:
        await redis.aclose()

    sys.stdout.write(json.dumps({"results": results}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    run_driver(main)
