"""Checks the Python that `clamator-codegen --out-py` writes, under the pinned pydantic:
every module given imports cleanly, and the models behave on the wire as the contract says
(aliases, unknown keys refused in params and ignored in results, unset optional properties left out, constraints, defaults,
discriminated unions, typed records, RootModel roots, the runtime descriptors).

Usage: python check_generated.py <golden dir> <generated dir>
  (the golden dir holds clamator-codegen/tests/golden/*.py, the generated dir the modules of
  contracts/). Prints "ok: <n> modules" and exits 0, or raises.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError


def load(path: Path) -> ModuleType:
    name = "gen_" + path.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def wire(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def refused(model: type[BaseModel], value: Any) -> list[tuple[str | int, ...]]:
    try:
        model.model_validate(value)
    except ValidationError as e:
        return [tuple(err["loc"]) for err in e.errors()]
    raise AssertionError(f"{model.__name__} accepted {value!r}")


def check_runtime_descriptors(m: ModuleType) -> None:
    """METHODS and the contract are what `RpcServerCore.register_service` takes."""
    contract = next(v for k, v in vars(m).items() if k.endswith("_contract"))
    assert contract.methods is m.METHODS
    service = next(
        v for k, v in vars(m).items()
        if inspect.isclass(v) and k.endswith("Service") and inspect.isabstract(v)
    )
    for wire_name, entry in m.METHODS.items():
        assert issubclass(entry.params_model, BaseModel), wire_name
        assert entry.result_model is None or issubclass(entry.result_model, BaseModel)
        assert entry.handler_attr in service.__abstractmethods__, entry.handler_attr
        hashes = m.SCHEMA_HASHES[wire_name]
        assert len(str(hashes["paramsHash"])) == 64
        assert (hashes["resultHash"] is None) == (entry.result_model is None)


def check_goldens(g: dict[str, ModuleType]) -> None:
    objects = g["objects"]
    p = objects.GetParams(name="a", age=3)
    assert wire(p) == {"name": "a", "age": 3}, wire(p)
    # The wire name is the alias; without populate_by_name the model is built by it.
    assert wire(objects.GetParams(name="a", age=3, nickName="x"))["nickName"] == "x"
    assert refused(objects.GetParams, {"name": "a", "age": 3, "x": 1}) == [("x",)]
    # An optional property set to None is left out too: its schema does not allow null.
    assert "nickName" not in wire(objects.GetParams(name="a", age=3, nickName=None))
    assert objects.GetResult.model_validate({"ok": True, "extra": 1}).ok is True

    nullable = g["nullable"]
    n = nullable.GetParams(a=None, b=None)
    assert wire(n) == {"a": None, "b": None}, wire(n)
    # `c` is optional AND nullable: null only when asked for.
    assert wire(nullable.GetParams(a=None, b=None, c=None)) == {"a": None, "b": None, "c": None}
    assert refused(nullable.GetParams, {"b": None}) == [("a",)]

    scalars = g["scalars"]
    good = {"i": 0, "n": 0.5, "s": "2024-01-01T00:00:00Z", "b": True, "z": None, "any": [1]}
    assert wire(scalars.GetParams.model_validate(good)) == good
    assert refused(scalars.GetParams, {**good, "i": -1}) == [("i",)]
    assert refused(scalars.GetParams, {**good, "n": 1}) == [("n",)]
    assert refused(scalars.GetParams, {**good, "s": "2024-01-01T00:00:00"}) == [("s",)]
    assert scalars.GetResult.model_validate("x").root == "x"

    arrays = g["arrays"]
    a = {"tags": ["t"], "points": [{"x": 1, "y": 2}], "anything": [1, "a", None]}
    assert arrays.GetParams.model_validate(a).points[0].y == 2
    assert refused(arrays.GetParams, {**a, "tags": []}) == [("tags",)]
    assert refused(arrays.GetParams, {**a, "tags": ["a"] * 6}) == [("tags",)]
    assert arrays.GetResult.model_validate([1, 2]).root == [1, 2]

    defaults = g["defaults"]
    d = defaults.GetParams()
    assert (d.limit, d.ratio, d.name, d.on, d.sort, d.list_) == (10, 0.5, "x", True, "desc", [])
    assert wire(d)["list"] == []

    enums = g["enums"]
    assert enums.GetParams(color="dark-blue", kind="fixed").color == "dark-blue"
    assert refused(enums.GetParams, {"color": "green", "kind": "fixed"}) == [("color",)]
    assert refused(enums.GetParams, {"color": "red", "kind": "moving"}) == [("kind",)]

    records = g["records"]
    r = records.GetResult.model_validate({"known": "k", "a": 1.5})
    assert wire(r) == {"known": "k", "a": 1.5}
    assert refused(records.GetResult, {"known": "k", "a": "x"}) == [("a",)]
    assert refused(records.GetParams, {"counts": {"a": "x"}, "anyObject": {}}) == [("counts", "a")]

    refs = g["refs"]
    rp = refs.GetParams.model_validate({"from": {"x": 1, "y": 2}, "to": {"x": 3, "y": 4}})
    assert wire(rp) == {"from": {"x": 1.0, "y": 2.0}, "to": {"x": 3.0, "y": 4.0}}
    assert refs.GetResult is refs.Point
    assert refused(refs.GetParams, {"from": {"x": 1, "y": 2}, "to": {"x": 1, "y": 2},
                                    "label": "x" * 21}) == [("label",)]

    tagged = g["tagged_union"]
    t = tagged.GetResult.model_validate({"kind": "rect", "w": 1, "h": 2})
    assert type(t.root).__name__ == "GetResultRect", type(t.root)
    assert wire(t) == {"kind": "rect", "w": 1.0, "h": 2.0}
    assert refused(tagged.GetResult, {"kind": "circle"}) == [("circle", "radius")]

    untagged = g["untagged_union"]
    u = untagged.GetParams.model_validate({"id": 5, "value": {"n": 1}})
    assert u.id == 5 and u.value.n == 1
    assert untagged.GetResult.model_validate({"ok": False, "error": "e"}).root.error == "e"

    nested = g["nested"]
    nn = nested.GetParams.model_validate({"outer": {"inner": {"leaf": "l"}}, "list": [{"v": 1}]})
    assert nn.outer.inner.leaf == "l"

    named = g["named"]
    assert named.PlaceParams.model_validate(
        {"address": {"city": "c"}, "status": "open"}
    ).address.city == "c"
    assert hasattr(named, "Address")


def check_contract_modules(m: dict[str, ModuleType]) -> None:
    arith, inventory, notifications = m["arith"], m["inventory"], m["notifications"]
    assert wire(arith.SlowAddParams(a=1, b=2, sleepMs=5)) == {"a": 1.0, "b": 2.0, "sleepMs": 5}
    assert refused(arith.SlowAddParams, {"a": 1, "b": 2, "sleepMs": -1}) == [("sleepMs",)]
    # A newer server's added result field: this (older) client's result model ignores it, as
    # the generated Rust and TypeScript clients do; params stay strict.
    newer = {"sum": 5, "estimatedDelivery": "2026-12-01"}
    assert arith.AddResult.model_validate(newer).sum == 5
    assert refused(arith.AddParams, {"a": 1, "b": 2, "note": "x"}) == [("note",)]
    assert inventory.OutOfStockData.model_validate({"available": 3, "since": "x"}).available == 3
    # An unset optional property is absent, not null (clamator's TypeScript servers refuse null).
    assert wire(notifications.PingParams()) == {}
    assert wire(notifications.PingParams(tag=None)) == {}
    s = inventory.SearchParams(query="lamp")
    assert wire(s) == {"query": "lamp", "limit": 10, "sort": "asc"}, wire(s)
    assert refused(inventory.SearchParams, {"query": "q", "limit": 0}) == [("limit",)]
    assert refused(inventory.GetItemParams, {"id": "UPPER"}) == [("id",)]
    created = inventory.AddItemResult.model_validate({
        "status": "created", "id": "3b241101-e2bb-4255-8caf-4136c566a962",
        "createdAt": "2024-05-01T12:00:00Z",
    })
    assert wire(created)["createdAt"] == "2024-05-01T12:00:00Z"
    assert refused(inventory.AddItemResult, {"status": "rejected", "reason": "nope",
                                             "detail": None}) == [("rejected", "reason")]
    error = inventory.out_of_stock(inventory.OutOfStockData(available=3))
    assert (error.code, error.message, error.data) == (4009, "not enough stock", {"available": 3})
    assert inventory.item_not_found().data is None
    assert inventory.ERRORS == {4004: "ItemNotFound", 4009: "OutOfStock"}


def main() -> None:
    golden_dir, generated_dir = Path(sys.argv[1]), Path(sys.argv[2])
    goldens = {p.stem.replace("-", "_"): load(p) for p in sorted(golden_dir.glob("*.py"))}
    generated = {p.stem: load(p) for p in sorted(generated_dir.glob("*.py"))}
    for module in [*goldens.values(), *generated.values()]:
        check_runtime_descriptors(module)
    check_goldens(goldens)
    check_contract_modules(generated)
    print(f"ok: {len(goldens) + len(generated)} modules")


if __name__ == "__main__":
    main()
