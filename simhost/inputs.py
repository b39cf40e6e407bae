"""Checks on the text the command line takes: UTF-8 only, a length limit on everything stored, and how input
is quoted back in error messages (a short prefix, never the whole of a long input)."""

from __future__ import annotations

import re

SHOWN_MAX = 40  # characters of an input an error message quotes back
ARGUMENT_MAX = 4096  # any one argument: more than every limit below, less than a page of error message

# Limits, in characters, of what the registry and port commands store.
LOGIN_MAX = 32  # an MQTT topic level and user name
CUSTOMER_NAME_MAX = 200
EMAIL_MAX = 254  # one address (RFC 5321's longest path)
EMAILS_MAX = 1000  # the comma-separated list
HTTP_URL_MAX = 2048
HTTP_SECRET_MIN = 16
HTTP_SECRET_MAX = 128  # customers.http_secret
SMPP_SYSTEM_ID_MAX = 15  # SMPP 3.4 system_id: 16 octets with the terminating NUL
SMPP_PASSWORD_MIN = 6
SMPP_PASSWORD_MAX = 8  # SMPP 3.4 password: 9 octets with the terminating NUL
PORT_NAME_MAX = 64  # an MQTT topic level
PORT_URL_MAX = 512
SENDER_NAME_MAX = 11  # TP-OA holds at most 11 GSM 7-bit characters (3GPP TS 23.040 §9.1.2.5)
APPROVER_MAX = 64
SENT_FROM_MAX = 32  # an MSISDN, a short code or an alphanumeric sender name
# how repr() shows an undecodable argv byte (surrogateescape): as the byte it was
ESCAPED_BYTE_RE = re.compile(r"\\udc([89a-f][0-9a-f])")


class InputError(ValueError):
    """Input simhost cannot accept; the message is one sentence saying what and why."""


class NotFoundError(InputError):
    """Input naming a record that is not registered (the API answers 404 where it names the resource)."""


class ConflictError(InputError):
    """Input that would clash with a registered record, which the sentence names (the API answers 409)."""


def shown(value: str, limit: int = SHOWN_MAX) -> str:
    """`value` quoted for an error message: cut to `limit` characters with an ellipsis, undecodable bytes
    as \\xNN escapes."""
    quoted = repr(value[:limit] + ("…" if len(value) > limit else ""))
    return ESCAPED_BYTE_RE.sub(r"\\x\1", quoted)


def bounded(value: str, limit: int, what: str) -> str:
    """`value` if it has at most `limit` characters, else an InputError naming `what` and the limit."""
    if len(value) > limit:
        raise InputError(f"{what} {shown(value)} is too long: {len(value)} characters, at most {limit}")
    return value


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
