"""Helpers shared by the interop drivers."""

from __future__ import annotations

import json
import sys
from typing import Any


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
