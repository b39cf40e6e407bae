"""Builds the normalized inbound message payload (ARCHITECTURE.md §3) from decoded PDUs or a call."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simhost.gateway.numbers import WITHHELD, classify_sender
from simhost.topics import SCHEMA_VERSION
from simhost_drivers.pdu import join_text
from simhost_drivers.pdu.model import TON_NAMES

CALL_TEXT = "[CALL]"


@dataclass(frozen=True)
class PortIdentity:
    """What a message says of the port it came from."""

    port: str
    iccid: str
    msisdn: str | None


def content_id(*fields: object) -> str:
    """A stable id: the first 32 hex digits of the SHA-256 of the fields joined by '|'."""
    raw = "|".join("" if f is None else str(f) for f in fields)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _base(message_id: str, kind: str, who: PortIdentity, received_at: datetime) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "id": message_id,
        "kind": kind,
        "number": who.msisdn,
        "port": who.port,
        "iccid": who.iccid,
        "received_at": received_at.isoformat(),
    }


def build_sms(
    message_id: str,
    who: PortIdentity,
    parts: Sequence[dict[str, Any]],
    pdus: Sequence[str],
    received_at: datetime,
    region: str,
    *,
    missing: list[int],
) -> dict[str, Any]:
    """The payload of one SMS from its decoded parts (in sequence order)."""
    first = parts[0]
    sender, sender_type = classify_sender(first.get("sender"), first.get("sender_type"), region)
    payload = _base(message_id, "sms", who, received_at)
    concat = first.get("concat") or {}
    total = int(concat.get("total") or 1)
    payload.update({
        "sender": sender,
        "sender_type": sender_type,
        "text": join_text(parts),
        "sent_at": first.get("timestamp"),
        "parts": total,
        "incomplete": bool(missing),
        "pdus": list(pdus),
        "dcs": first.get("dcs"),
    })
    if missing:
        payload["missing_parts"] = missing
    cut = [int((p.get("concat") or {}).get("seq") or i) for i, p in enumerate(parts, start=1) if p.get("truncated")]
    if cut:
        # TP-UDL promised more than the PDU held: the text is what arrived, never a complete message
        payload["truncated"] = True
        payload["truncated_parts"] = cut
    data = [p.get("data_hex") for p in parts if p.get("data_hex")]
    if data:
        payload["data_hex"] = "".join(str(d) for d in data)
    return payload


def build_call(
    message_id: str,
    who: PortIdentity,
    caller: str | None,
    caller_type: int | None,
    rang_at: datetime,
    region: str,
) -> dict[str, Any]:
    """The payload of one incoming call: text [CALL], sender `withheld` when no caller ID was given."""
    payload = _base(message_id, "call", who, rang_at)
    if caller:
        ton = (caller_type >> 4) & 0x7 if caller_type is not None else 0
        sender, sender_type = classify_sender(caller, TON_NAMES[ton], region)
    else:
        sender, sender_type = WITHHELD, WITHHELD
    payload.update({
        "sender": sender,
        "sender_type": sender_type,
        "text": CALL_TEXT,
        "sent_at": None,
        "parts": 1,
        "incomplete": False,
    })
    return payload


def build_undecodable(
    message_id: str, who: PortIdentity, pdu_hex: str, error: str, received_at: datetime
) -> dict[str, Any]:
    """The payload of a PDU the decoder rejected: kept whole, with the reason."""
    payload = _base(message_id, "undecodable", who, received_at)
    payload.update({"pdus": [pdu_hex], "error": error, "text": None, "parts": 1, "incomplete": False})
    return payload
