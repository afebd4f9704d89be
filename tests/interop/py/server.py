"""Interop server driver: the published Python `clamator-over-redis` RedisRpcServer.

Protocol (see README.md):
  stdin  : ONE JSON object {"redisUrl", "keyPrefix", "instanceId"?, "consumerClaimIdleMs"?,
           "faulty"?: true (also serve faulty.badResult, whose result breaks its schema),
           "newerAdd"?: true (arith.add answers with an extra field, estimatedDelivery)}
           (extra keys such as "contract"/"generatedDir" from the original runner are ignored)
  stdout : "READY" once the server has started; one line {"pinged": <tag>} per ping handled
  stderr : "HANDLED:<n>" on SIGTERM/SIGINT (n = handler invocations, incl. notifications)
  exit   : 0 after a graceful stop, 1 if the server could not start, 2 on bad input
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clamator_over_redis import RedisRpcServer, RpcError  # noqa: E402

from driver_io import read_json_object, run_driver  # noqa: E402
from contracts import (  # noqa: E402
    AddParams,
    AddResult,
    AddResultWithDelivery,
    DivideParams,
    DivideResult,
    EchoTextParams,
    EchoTextResult,
    PingParams,
    SlowAddParams,
    SlowAddResult,
    arith_contract,
    faulty_contract,
    newer_arith_contract,
    notifications_contract,
)

STOP_GRACE_MS = 3000  # the runner SIGKILLs 5 s after SIGTERM; report HANDLED before that




class Counter:
    def __init__(self) -> None:
        self.n = 0


class ArithService:
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def add(self, params: AddParams) -> AddResult:
        self._counter.n += 1
        return AddResult(sum=params.a + params.b)

    async def add_newer(self, params: AddParams) -> AddResultWithDelivery:
        self._counter.n += 1
        return AddResultWithDelivery(sum=params.a + params.b, estimatedDelivery="2026-12-01")

    async def slow_add(self, params: SlowAddParams) -> SlowAddResult:
        self._counter.n += 1
        await asyncio.sleep(params.sleep_ms / 1000)
        return SlowAddResult(sum=params.a + params.b)

    async def divide(self, params: DivideParams) -> DivideResult:
        self._counter.n += 1
        if params.b == 0:
            raise RpcError(-32000, "division by zero")
        return DivideResult(q=params.a / params.b)

    async def echo_text(self, params: EchoTextParams) -> EchoTextResult:
        self._counter.n += 1
        return EchoTextResult(text=params.text)


class FaultyService:
    """`faulty.badResult` returns a result that breaks its schema (sum must be a number)."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def bad_result(self, params: Any) -> Any:
        self._counter.n += 1
        return {"sum": "not a number"}


class NotificationsService:
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def ping(self, params: PingParams) -> None:
        self._counter.n += 1
        sys.stdout.write(json.dumps({"pinged": params.tag}) + "\n")
        sys.stdout.flush()


async def main() -> int:
    try:
        cfg = read_json_object()
        redis_url = cfg["redisUrl"]
        key_prefix = cfg["keyPrefix"]
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"server.py: bad stdin config: {e!r}\n")
        return 2

    counter = Counter()
    server = RedisRpcServer(
        redis_url=redis_url,
        key_prefix=key_prefix,
        instance_id=cfg.get("instanceId"),
        consumer_claim_idle_ms=int(cfg.get("consumerClaimIdleMs") or 60_000),
    )
    # "newerAdd": serve the arith contract after an additive change (add answers with one
    # more field), as a server deployed before its clients were rebuilt would.
    contract = newer_arith_contract if cfg.get("newerAdd") else arith_contract
    server.register_service(contract, ArithService(counter))
    server.register_service(notifications_contract, NotificationsService(counter))
    if cfg.get("faulty"):
        server.register_service(faulty_contract, FaultyService(counter))

    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_event.set)

    try:
        await server.start()
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"server.py: start failed: {e!r}\n")
        return 1

    sys.stdout.write("READY\n")
    sys.stdout.flush()

    await stop_event.wait()
    try:
        await server.stop(grace_ms=STOP_GRACE_MS)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"server.py: stop failed: {e!r}\n")
    sys.stderr.write(f"HANDLED:{counter.n}\n")
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    run_driver(main)
