"""Interop server driver over the GENERATED Python modules (tests/interop/py/generated, written
by `clamator-codegen --out-py`): the published `RedisRpcServer` serving implementations of the
generated abstract `ArithService`, `NotificationsService` and `InventoryService`.

Protocol (as server.py):
  stdin  : ONE JSON object {"redisUrl", "keyPrefix", "instanceId"?}
  stdout : "READY" once started; one line {"notified": "<service>.<method>", "params": {...}}
           per notification handled (params as the generated model writes them)
  stderr : "HANDLED:<n>" on SIGTERM/SIGINT (n = handler invocations, notifications included)
  exit   : 0 after a graceful stop, 1 if the server could not start, 2 on bad input

The inventory's answers are fixed so that the Rust implementation in the interop suite
(`Store`) gives the same ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))

from clamator_over_redis import RedisRpcServer, RpcError  # type: ignore[import-untyped, unused-ignore]  # noqa: E402
from pydantic import BaseModel  # noqa: E402

import arith  # noqa: E402
import inventory  # noqa: E402
import notifications  # noqa: E402
from driver_io import read_json_object, run_driver  # noqa: E402

STOP_GRACE_MS = 3000

LAMP = inventory.Item.model_validate(
    {
        "id": "lamp-1",
        "name": "Lamp",
        "price": 12.5,
        "kind": "physical",
        "dimensions": {"width": 10, "height": 20},
        "attributes": {"color": "red", "watts": 40, "dimmable": True},
    }
)
STOCK = 3


class Counter:
    def __init__(self) -> None:
        self.n = 0


def report(method: str, params: BaseModel) -> None:
    line = {"notified": method, "params": params.model_dump(mode="json", by_alias=True)}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


class Arith(arith.ArithService):
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def add(self, params: arith.AddParams) -> arith.AddResult:
        self._counter.n += 1
        return arith.AddResult(sum=params.a + params.b)

    async def divide(self, params: arith.DivideParams) -> arith.DivideResult:
        self._counter.n += 1
        if params.b == 0:
            raise RpcError(-32000, "division by zero")
        return arith.DivideResult(q=params.a / params.b)

    async def echo_text(self, params: arith.EchoTextParams) -> arith.EchoTextResult:
        self._counter.n += 1
        return arith.EchoTextResult(text=params.text)

    async def slow_add(self, params: arith.SlowAddParams) -> arith.SlowAddResult:
        self._counter.n += 1
        await asyncio.sleep(params.sleep_ms / 1000)
        return arith.SlowAddResult(sum=params.a + params.b)


class Notifications(notifications.NotificationsService):
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def ping(self, params: notifications.PingParams) -> None:
        self._counter.n += 1
        report("notifications.ping", params)


class Inventory(inventory.InventoryService):
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def add_item(self, params: inventory.AddItemParams) -> inventory.AddItemResult:
        self._counter.n += 1
        if params.dry_run:
            rejected = inventory.AddItemResultRejected(
                status="rejected", reason="forbidden", detail="dry run"
            )
            return inventory.AddItemResult(rejected)
        if params.item.id == "dup":
            return inventory.AddItemResult(
                inventory.AddItemResultRejected(status="rejected", reason="duplicate", detail=None)
            )
        created = inventory.AddItemResultCreated.model_validate(
            {
                "status": "created",
                "id": "3b241101-e2bb-4255-8caf-4136c566a962",
                "createdAt": "2024-05-01T12:00:00Z",
            }
        )
        return inventory.AddItemResult(created)

    async def get_item(self, params: inventory.GetItemParams) -> inventory.GetItemResult:
        self._counter.n += 1
        if params.id == LAMP.id:
            return inventory.GetItemResult(item=LAMP, stock={"main": STOCK, "backup": 0})
        return inventory.GetItemResult(item=None, stock={})

    async def item_changed(self, params: inventory.ItemChangedParams) -> None:
        self._counter.n += 1
        report("inventory.itemChanged", params)

    async def reserve(self, params: inventory.ReserveParams) -> inventory.ReserveResult:
        self._counter.n += 1
        if params.id != LAMP.id:
            raise inventory.item_not_found()
        if params.quantity > STOCK:
            raise inventory.out_of_stock(inventory.OutOfStockData(available=STOCK))
        return inventory.ReserveResult(remaining=STOCK - params.quantity)

    async def search(self, params: inventory.SearchParams) -> inventory.SearchResult:
        self._counter.n += 1
        items = [LAMP] if params.query.lower() in LAMP.name.lower() else []
        if params.filters is not None and params.filters.min_price is not None:
            items = [i for i in items if i.price >= params.filters.min_price]
        if params.filters is not None and params.filters.kinds is not None:
            items = [i for i in items if i.kind in params.filters.kinds]
        return inventory.SearchResult(
            items=items[: params.limit], total=len(items), next=f"{params.sort}:{params.limit}"
        )

    async def set_metadata(
        self, params: inventory.SetMetadataParams
    ) -> inventory.SetMetadataResult:
        self._counter.n += 1
        return inventory.SetMetadataResult()


async def main() -> int:
    try:
        cfg = read_json_object()
        redis_url = cfg["redisUrl"]
        key_prefix = cfg["keyPrefix"]
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"generated_server.py: bad stdin config: {e!r}\n")
        return 2

    counter = Counter()
    server = RedisRpcServer(
        redis_url=redis_url, key_prefix=key_prefix, instance_id=cfg.get("instanceId")
    )
    server.register_service(arith.arith_contract, Arith(counter))
    server.register_service(notifications.notifications_contract, Notifications(counter))
    server.register_service(inventory.inventory_contract, Inventory(counter))

    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_event.set)

    try:
        await server.start()
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"generated_server.py: start failed: {e!r}\n")
        return 1

    sys.stdout.write("READY\n")
    sys.stdout.flush()

    await stop_event.wait()
    try:
        await server.stop(grace_ms=STOP_GRACE_MS)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"generated_server.py: stop failed: {e!r}\n")
    sys.stderr.write(f"HANDLED:{counter.n}\n")
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    run_driver(main)
