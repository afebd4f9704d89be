"""Helpers shared by the interop drivers."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any, Callable, Coroutine


def read_json_object() -> dict[str, Any]:
    """Read stdin until one complete JSON value has been seen (or EOF)."""
    decoder = json.JSONDecoder()
    buf = ""
    for line in sys.stdin:
        buf += line
        text = buf.strip()
        if not text:
            continue
        try:
            obj, _ = decoder.raw_decode(text)
        except json.JSONDecodeError:
            continue
        break
    else:
        obj = json.loads(buf)  # EOF: raises on empty/incomplete input
    if not isinstance(obj, dict):
        raise ValueError("stdin must hold a JSON object")
    return obj


def run_driver(main: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run a driver's async `main` with warnings logged to stderr; exit with its code."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    sys.exit(asyncio.run(main()))
