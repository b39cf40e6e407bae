"""USSD for the drivers: the answer and its typed failures, the +CUSD line's decoding (by <dcs>: GSM 7-bit as text
or packed hex, UCS2 hex, 8-bit) and the request's encoding."""

from __future__ import annotations

import re
from dataclasses import dataclass

from simhost_drivers.at.errors import AtError
from simhost_drivers.pdu.gsm7 import decode_septets, encode_char, pack_septets, unpack_septets

# what a USSD code may hold: nothing that could end the string or the AT command line it is quoted in
CODE_RE = re.compile(r"^[0-9*#+]{1,32}$")
DCS_GSM7 = 15  # TS 23.038 §5: GSM 7-bit default alphabet, language unspecified
CR = 0x0D
_HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")

# +CUSD <m> (TS 27.007 §7.15)
DONE = 0
FURTHER_ACTION = 1
TERMINATED = 2
OTHER_CLIENT = 3
NOT_SUPPORTED = 4
NETWORK_TIMEOUT = 5
UNREADABLE = -1  # not a +CUSD line this module can read


class UssdError(AtError):
    """A USSD request got no usable answer."""


class UssdTimeoutError(UssdError, TimeoutError):
    """No answer within the time allowed; the session was cancelled (AT+CUSD=2)."""


class UssdNetworkError(UssdError):
    """The modem or the network refused the request or ended the session without an answer."""


class UssdUnsupportedError(UssdError):
    """The network or the modem does not support the request (`+CUSD: 4`, `+CME ERROR: 4`)."""


@dataclass(frozen=True)
class UssdAnswer:
    """One +CUSD report: `status` (<m>), the decoded `text` (None without a string), `dcs`, and `raw`, the
    <str> as the modem wrote it."""

    status: int
    text: str | None = None
    dcs: int | None = None
    raw: str | None = None

    def checked(self) -> UssdAnswer:
        """This answer, or the typed error it stands for: a session ended without a text, or refused."""
        if self.text is not None and self.status in (DONE, FURTHER_ACTION, TERMINATED):
            return self  # some networks end the session with the answer itself: `+CUSD: 2,"<text>",15`
        if self.status == NOT_SUPPORTED:
            raise UssdUnsupportedError("the network does not support this request (+CUSD: 4)")
        reasons = {TERMINATED: "the network ended the session without an answer (+CUSD: 2)",
                   OTHER_CLIENT: "another client answered the request (+CUSD: 3)",
                   NETWORK_TIMEOUT: "the network timed out (+CUSD: 5)",
                   UNREADABLE: f"unreadable +CUSD line: {(self.raw or '')[:80]!r}"}
        raise UssdNetworkError(reasons.get(self.status, f"no answer text (+CUSD: {self.status})"))


def check_code(code: str) -> str:
    """`code` if it is a USSD string that is safe in an AT command line; ValueError otherwise."""
    if not CODE_RE.match(code):
        raise ValueError(f"USSD code {code[:40]!r}: 1 to 32 of the characters 0-9, '*', '#' and '+'")
    return code


def alphabet(dcs: int | None) -> str:
    """"gsm7", "8bit" or "ucs2": what the CBS data coding scheme `dcs` says the string holds (TS 23.038 §5)."""
    if dcs is None:
        return "gsm7"  # 27.007's default <dcs> is 0
    group = dcs >> 4
    if group in (0x0, 0x2, 0x3) or dcs == 0x10:
        return "gsm7"
    if dcs == 0x11:
        return "ucs2"  # preceded by a two-character language
    if group in (0x4, 0x5, 0x6, 0x7, 0x9):
        return ("gsm7", "8bit", "ucs2", "8bit")[(dcs >> 2) & 0x3]
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def pack_code(code: str) -> str:
    """`code` as GSM 7-bit septets packed into hex, padded with a CR where the last octet has 7 spare bits (TS
    23.038 §6.1.2.3.1), as Huawei firmware wants the request."""
    septets = [s for ch in check_code(code) for s in encode_char(ch) or ()]
    if len(septets) % 8 == 7:
        septets.append(CR)
    return pack_septets(septets).hex().upper()


def unpack_text(hex_text: str) -> str:
    """Packed GSM 7-bit septets in hex as text; a CR padding the last octet is dropped."""
    data = bytes.fromhex(hex_text)
    septets = unpack_septets(data, len(data) * 8 // 7)
    if len(septets) % 8 == 0 and septets and septets[-1] == CR:
        septets = septets[:-1]
    return decode_septets(septets)


def decode_text(raw: str, dcs: int | None, *, packed: bool) -> str:
    """The text of a +CUSD <str>: GSM 7-bit as the modem converted it to text, or (`packed`, a family that gives
    7-bit answers as packed septets in hex) unpacked; UCS2 from hex of UTF-16 units; 8-bit as Latin-1 from hex. A
    string that is not the hex its <dcs> calls for is taken as text (a modem that converted it already)."""
    kind = alphabet(dcs)
    is_hex = bool(_HEX_RE.match(raw))
    if kind == "ucs2" and is_hex and len(raw) % 4 == 0:
        text = bytes.fromhex(raw).decode("utf-16-be", errors="replace")
        return text[2:] if dcs == 0x11 else text
    if kind == "8bit" and is_hex:
        return bytes.fromhex(raw).decode("latin-1")
    if kind == "gsm7" and packed and is_hex:
        return unpack_text(raw)
    return raw


def parse_cusd(value: str, *, packed: bool) -> UssdAnswer:
    """A `+CUSD: <m>[,"<str>"[,<dcs>]]` line's value (after the colon). The string is taken from the first to the
    last quote, so commas and quotes inside the text stay in it."""
    value = value.strip()
    head, quote, rest = value.partition('"')
    try:
        status = int(head.rstrip(", "))
    except ValueError:
        return UssdAnswer(UNREADABLE, raw=value)
    if not quote:
        return UssdAnswer(status)
    # a text cut at a line break has no closing quote: what came is kept
    raw, _, tail = rest.rpartition('"') if '"' in rest else (rest, "", "")
    dcs_text = tail.strip().lstrip(",").strip()
    dcs = int(dcs_text) if dcs_text.isdigit() and int(dcs_text) < 256 else None
    return UssdAnswer(status, decode_text(raw, dcs, packed=packed), dcs, raw)
