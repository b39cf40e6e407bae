"""Joining the text of a concatenated SMS from its decoded parts (UCS2 joined before decoding)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from simhost_drivers.pdu.model import DecodedPdu

Part = DecodedPdu | Mapping[str, Any]


def join_text(parts: Sequence[Part]) -> str | None:
    """The text of a message from its parts in sequence order (DecodedPdu or their `to_json()`).

    UCS2 parts that follow one another (consecutive sequence numbers) are joined as UTF-16
    octets before decoding, so a surrogate pair the sender split across two parts becomes one
    character again. Parts without text (8-bit data) add nothing; None when no part has text.
    """
    pieces: list[str] = []
    pending = bytearray()
    pending_seq: int | None = None
    have_text = False
    for part in parts:
        text, ucs2, seq = _view(part)
        if text is None:
            continue
        have_text = True
        if ucs2 is not None and pending and _follows(pending_seq, seq):
            pending += ucs2
            pending_seq = seq
            continue
        if pending:
            pieces.append(pending.decode("utf-16-be", errors="replace"))
            pending.clear()
        if ucs2 is not None:
            pending += ucs2
            pending_seq = seq
        else:
            pieces.append(text)
    if pending:
        pieces.append(pending.decode("utf-16-be", errors="replace"))
    return "".join(pieces) if have_text else None


def _follows(previous: int | None, seq: int | None) -> bool:
    return previous is None or seq is None or seq == previous + 1


def _view(part: Part) -> tuple[str | None, bytes | None, int | None]:
    """(text, raw UCS2 octets or None, sequence number or None) of one part."""
    if isinstance(part, DecodedPdu):
        seq = part.concat.seq if part.concat is not None else None
        is_ucs2 = part.dcs is not None and part.dcs.alphabet == "ucs2" and part.text is not None
        return part.text, part.user_data if is_ucs2 else None, seq
    text = part.get("text")
    concat = part.get("concat")
    dcs = part.get("dcs")
    seq = concat.get("seq") if isinstance(concat, Mapping) else None
    if not isinstance(text, str):
        return None, None, None
    ucs2: bytes | None = None
    if isinstance(dcs, Mapping) and dcs.get("alphabet") == "ucs2":
        # Without `ucs2_hex` the text holds every code unit whole, so re-encoding it is exact.
        raw = part.get("ucs2_hex")
        ucs2 = text.encode("utf-16-be", errors="surrogatepass")
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                ucs2 = bytes.fromhex(raw)
    return text, ucs2, seq if isinstance(seq, int) else None
