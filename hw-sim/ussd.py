"""The network's USSD service for one SIM: what each code answers, after how long, and the +CUSD line a modem
family writes for it (plain text, GSM 7-bit packed hex, or UCS2 hex)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hwsim.sms import ENCODINGS, GSM7_DEFAULT, gsm7_septets

DEFAULT_REPLY = "Balance: 100.00 RUB"
ANY_CODE = "*"
# TS 23.038 §5 (CBS data coding): 0x0F GSM 7-bit, language unspecified; 0x48 general coding, UCS2
DCS_GSM7 = 15
DCS_UCS2 = 72
CR = 0x0D
CODE_RE = re.compile(r"^[0-9*#+]{1,182}$")
HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
USSD_FAULTS = ("no-answer", "cancel", "error", "unsupported")
# the +CME ERROR code of the `ussd error` fault: what E173s and SIM800s give for a USSD the network refused
USSD_ERROR_CME = 100


@dataclass(frozen=True)
class UssdService:
    """What the network answers one code: `reply` after `delay_s` (None: the bank's timing), encoded as `encoding`
    ("auto": GSM 7-bit when the text fits the alphabet, else UCS2)."""

    reply: str
    delay_s: float | None = None
    encoding: str = "auto"

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"a USSD encoding is one of {', '.join(ENCODINGS)}, not {self.encoding!r}")
        if self.delay_s is not None and not 0 <= self.delay_s <= 600:
            raise ValueError(f"a USSD delay is 0 to 600 s, not {self.delay_s}")
        if self.encoding == "gsm7" and gsm7_septets(self.reply) is None:
            raise ValueError("the reply does not fit the GSM 7-bit alphabet: give encoding ucs2 or auto")

    def to_json(self) -> dict[str, object]:
        return {"reply": self.reply, "delay_s": self.delay_s, "encoding": self.encoding}


def check_code(code: str) -> str:
    """`code` if it can be a USSD string a network serves (digits, *, #, +); ValueError otherwise."""
    if code != ANY_CODE and not CODE_RE.match(code):
        raise ValueError(f"USSD code {code!r}: digits, '*', '#' and '+' only (or {ANY_CODE!r} for any code)")
    return code


def pack_gsm7(text: str) -> bytes:
    """`text` in the GSM 7-bit default alphabet, packed, padded for USSD: a last octet with 7 spare bits gets a CR
    in them, not an '@' (TS 23.038 §6.1.2.3.1)."""
    septets = gsm7_septets(text)
    if septets is None:
        raise ValueError(f"{text!r} does not fit the GSM 7-bit alphabet")
    if len(septets) % 8 == 7 or (len(septets) % 8 == 0 and septets and septets[-1] == CR):
        septets.append(CR)
    value = 0
    for i, septet in enumerate(septets):
        value |= septet << (7 * i)
    return value.to_bytes((7 * len(septets) + 7) // 8, "little")


def unpack_gsm7(data: bytes) -> str:
    """Packed septets back to text (the default alphabet only, which USSD codes use); a CR padding the last octet
    is dropped."""
    value = int.from_bytes(data, "little")
    count = len(data) * 8 // 7
    septets = [(value >> (7 * i)) & 0x7F for i in range(count)]
    if count % 8 == 0 and septets and septets[-1] == CR:
        septets.pop()
    return "".join(GSM7_DEFAULT[s] for s in septets)


def requested_code(raw: str, packed: bool) -> str | None:
    """The code a modem sends the network for AT+CUSD's <str>: as given, or (`packed`: a family that takes the
    request as GSM 7-bit packed hex) unpacked; None when a packed family was given no hex."""
    if not packed:
        return raw
    if not HEX_RE.match(raw):
        return None
    return unpack_gsm7(bytes.fromhex(raw))


def reply_line(m: int, service: UssdService, packed: bool) -> str:
    """The +CUSD line for `service`'s reply: 7-bit text as plain text (the modem converts it to the TE character
    set) or, for a `packed` family, as packed septets in hex; UCS2 as hex of its UTF-16 units (27.007 §7.15)."""
    text = service.reply
    ucs2 = service.encoding == "ucs2" or (service.encoding == "auto" and gsm7_septets(text) is None)
    if ucs2:
        return f'+CUSD: {m},"{text.encode("utf-16-be").hex().upper()}",{DCS_UCS2}'
    if packed:
        return f'+CUSD: {m},"{pack_gsm7(text).hex().upper()}",{DCS_GSM7}'
    return f'+CUSD: {m},"{text}",{DCS_GSM7}'
