"""Helpers for the PDU tests: the shared vectors and a builder of hand-made SMS-DELIVER PDUs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "pdu-vectors.jsonl"

SMSC_HEX = "07919761989901F0"  # +79168999100
OA_HEX = "0B919761214365F7"  # +79161234567
SCTS_HEX = "42305101030021"  # 2024-03-15 10:30:00 +03:00
SCTS_ISO = "2024-03-15T10:30:00+03:00"


def load_vectors() -> list[dict[str, Any]]:
    """Every vector of data/pdu-vectors.jsonl, in file order."""
    lines = VECTORS_PATH.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


VECTORS = load_vectors()
VECTORS_BY_ID = {v["id"]: v for v in VECTORS}


def deliver_hex(
    ud_hex: str,
    udl: int,
    *,
    dcs: int = 0x00,
    udhi: bool = False,
    oa_hex: str = OA_HEX,
    pid: int = 0x00,
    scts_hex: str = SCTS_HEX,
    smsc_hex: str = SMSC_HEX,
) -> str:
    """An SMS-DELIVER PDU assembled field by field from the given hex pieces."""
    first = 0x04 | (0x40 if udhi else 0)
    return (f"{smsc_hex}{first:02X}{oa_hex}{pid:02X}{dcs:02X}{scts_hex}{udl:02X}{ud_hex}").upper()


def pack7(septets: list[int], fill_bits: int = 0) -> str:
    """Septets packed LSB first after `fill_bits` zero bits (TS 23.038 §6.1.2.1), as hex."""
    value, nbits = 0, fill_bits
    for s in septets:
        value |= s << nbits
        nbits += 7
    return value.to_bytes((nbits + 7) // 8, "little").hex().upper()
