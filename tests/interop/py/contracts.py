"""Hand-built clamator contracts for the interop drivers.

These mirror what `@clamator/codegen` (datamodel-codegen, pydantic v2 output) would
emit for the `arith` and `notifications` interop contracts:

* every model has `model_config = ConfigDict(extra="forbid")` and NOT
  `populate_by_name`, so aliased fields must be supplied by alias (`sleepMs`);
* camelCase wire fields become snake_case attributes with a `Field(alias=...)`;
* numbers declared `number` in the TS contract are `float` here, so a Python server
  replies `{"sum": 5.0}` on the wire.

`Contract` / `MethodEntry` are the runtime descriptors from `clamator_protocol`;
hand-built contracts are supported alongside generated ones.
"""

from __future__ import annotations

from typing import Optional

from clamator_protocol import Contract, MethodEntry
from pydantic import BaseModel, ConfigDict, Field

# --------------------------------------------------------------------------- arith


class AddParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float
    b: float


class AddResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sum: float


class SlowAddParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float
    b: float
    sleep_ms: int = Field(..., alias="sleepMs", ge=0)


class SlowAddResult(AddResult):
    pass


class DivideParams(AddParams):
    pass


class DivideResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: float


class EchoTextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class EchoTextResult(EchoTextParams):
    pass


ARITH_METHODS = {
    "add": MethodEntry(params_model=AddParams, result_model=AddResult, handler_attr="add"),
    "slowAdd": MethodEntry(
        params_model=SlowAddParams, result_model=SlowAddResult, handler_attr="slow_add"
    ),
    "divide": MethodEntry(
        params_model=DivideParams, result_model=DivideResult, handler_attr="divide"
    ),
    "echoText": MethodEntry(
        params_model=EchoTextParams, result_model=EchoTextResult, handler_attr="echo_text"
    ),
}

arith_contract = Contract(service="arith", methods=ARITH_METHODS)


class AddResultWithDelivery(AddResult):
    """A newer `add` result: one more (optional) field than older clients were built with."""

    estimated_delivery: Optional[str] = Field(None, alias="estimatedDelivery")


# The same service after an additive change: `add` answers with one more field.
newer_arith_contract = Contract(
    service="arith",
    methods={
        **ARITH_METHODS,
        "add": MethodEntry(
            params_model=AddParams, result_model=AddResultWithDelivery, handler_attr="add_newer"
        ),
    },
)

# ------------------------------------------------------------------- notifications


class PingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: Optional[str] = None  # noqa: UP045  # mirrors datamodel-codegen output


NOTIFICATIONS_METHODS = {
    # result_model=None marks a notification.
    "ping": MethodEntry(params_model=PingParams, result_model=None, handler_attr="ping"),
}

notifications_contract = Contract(service="notifications", methods=NOTIFICATIONS_METHODS)

__all__ = [
    "AddParams", "AddResult", "SlowAddParams", "SlowAddResult",
    "DivideParams", "DivideResult", "EchoTextParams", "EchoTextResult",
    "PingParams", "arith_contract", "notifications_contract",
    "AddResultWithDelivery", "newer_arith_contract",
]


# --- faulty (interop tests of result validation) --------------------------------------------


class EmptyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


FAULTY_METHODS = {
    "badResult": MethodEntry(params_model=EmptyParams, result_model=AddResult, handler_attr="bad_result"),
}

faulty_contract = Contract(service="faulty", methods=FAULTY_METHODS)
