"""Reading JSON payloads from MQTT with limits checked before parsing: size, nesting depth, UTF-8."""

from __future__ import annotations

import json
import re

# An inbound message of 255 parts with its PDUs is about 110 kB; nothing simhost consumes comes near this.
MAX_PAYLOAD_BYTES = 512 * 1024
# Our payloads nest three levels at most (a message, its lists and small objects).
MAX_DEPTH = 16

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class PayloadError(ValueError):
    """A payload that is not a JSON document within the limits; the message says which limit or why."""


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text `data` (brackets inside strings do not count)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', data)):
        if m.group() in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json(data: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES, max_depth: int = MAX_DEPTH) -> object:
    """The JSON document in `data`, or PayloadError naming what is wrong (never another exception)."""
    if len(data) > max_bytes:
        raise PayloadError(f"the payload has {len(data)} bytes, more than the limit of {max_bytes}")
    depth = nesting_depth(data)
    if depth > max_depth:
        raise PayloadError(f"the payload nests {depth} levels deep, more than the limit of {max_depth}")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the payload is not UTF-8 (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"the payload is not JSON: {exc}") from None


def parse_object(data: bytes, **limits: int) -> dict[str, object]:
    """The JSON object in `data`, or PayloadError (a JSON array, string or number is not accepted)."""
    value = parse_json(data, **limits)
    if not isinstance(value, dict):
        raise PayloadError(f"the payload is a JSON {type(value).__name__}, not an object")
    return value
