"""Checks on raw command-line text: it must be UTF-8, and how it is quoted back in error messages."""

from __future__ import annotations

import re

SHOWN_MAX = 40  # characters of an input an error message quotes back
# how repr() shows an undecodable argv byte (surrogateescape): as the byte it was
ESCAPED_BYTE_RE = re.compile(r"\\udc([89a-f][0-9a-f])")


class InputError(ValueError):
    """Input simhost cannot accept; the message is one sentence saying what and why."""


def shown(value: str, limit: int = SHOWN_MAX) -> str:
    """`value` quoted for an error message: cut to `limit` characters with an ellipsis, undecodable bytes
    as \\xNN escapes."""
    quoted = repr(value[:limit] + ("…" if len(value) > limit else ""))
    return ESCAPED_BYTE_RE.sub(r"\\x\1", quoted)


def is_utf8(value: str) -> bool:
    """Whether `value` came from valid UTF-8 (Python hands undecodable argv bytes over as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8(value: str, what: str) -> str:
    if not is_utf8(value):
        raise InputError(f"{what} {shown(value)} is not UTF-8 text")
    return value
