"""Interop client driver over the GENERATED Python modules (tests/interop/py/generated): every
call goes through the typed `ArithClient`, `NotificationsClient` or `InventoryClient`, its
params built as the generated model (`model_validate` of the given JSON), its result validated
into the generated model and written back by alias. A call marked "raw" goes through the
untyped `RedisRpcClient.call` instead, so that params the models would refuse reach the server.

Protocol:
  stdin  : ONE JSON object {"redisUrl", "keyPrefix", "defaultTimeoutMs"?: 5000,
           "calls": [{"case": "<name>", "service", "method", "params": {...}, "raw"?: false}]}
  stdout : ONE JSON line {"results": {"<case>": <outcome>, ...}}, outcomes as client.py's
           (result, notification, rpc-error, transport-error, unknown-error)
  exit   : 0 when results were printed, 2 on bad input
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))

from clamator_over_redis import ClamatorTransportError, RedisRpcClient, RpcError  # type: ignore[import-untyped, unused-ignore]  # noqa: E402

import arith  # noqa: E402
import inventory  # noqa: E402
import notifications  # noqa: E402
from driver_io import read_json_object, run_driver  # noqa: E402

MODULES: dict[str, Any] = {
    "arith": arith,
    "notifications": notifications,
    "inventory": inventory,
}


async def run_one(rpc: Any, typed: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    service, method, params = call["service"], call["method"], call.get("params", {})
    try:
        if call.get("raw"):
            result = await rpc.call(service, method, params)
            return {"ok": True, "kind": "result", "result": result}
        entry = MODULES[service].METHODS[method]
        model = entry.params_model.model_validate(params)
        handler = getattr(typed[service], entry.handler_attr)
        if entry.result_model is None:
            await handler(model)
            return {"ok": True, "kind": "notification"}
        answer = await handler(model, timeout_ms=5000)
        return {
            "ok": True,
            "kind": "result",
            "result": answer.model_dump(mode="json", by_alias=True),
        }
    except RpcError as e:
        return {
            "ok": False, "kind": "rpc-error",
            "code": e.code, "message": e.message, "data": e.data,
        }
    except ClamatorTransportError as e:
        return {"ok": False, "kind": "transport-error", "message": str(e)}
    except Exception as e:  # noqa: BLE001
        return {"ok": False, "kind": "unknown-error", "message": f"{type(e).__name__}: {e}"}


async def main() -> int:
    try:
        cfg = read_json_object()
        redis_url = cfg["redisUrl"]
        key_prefix = cfg["keyPrefix"]
        calls = list(cfg.get("calls") or [])
        default_timeout_ms = int(cfg.get("defaultTimeoutMs") or 5000)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"generated_client.py: bad stdin config: {e!r}\n")
        return 2

    rpc = RedisRpcClient(
        redis_url=redis_url, key_prefix=key_prefix, default_timeout_ms=default_timeout_ms
    )
    typed: dict[str, Any] = {
        "arith": arith.ArithClient(rpc),
        "notifications": notifications.NotificationsClient(rpc),
        "inventory": inventory.InventoryClient(rpc),
    }
    await rpc.start()
    try:
        results = {c["case"]: await run_one(rpc, typed, c) for c in calls}
    finally:
        await rpc.stop()
    sys.stdout.write(json.dumps({"results": results}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    run_driver(main)
