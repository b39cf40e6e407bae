"""Typed results of PDU decoding (TS 23.040 TPDU elements) and their JSON shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

PduType = Literal["SMS-DELIVER", "SMS-SUBMIT", "SMS-STATUS-REPORT"]
Alphabet = Literal["gsm7", "8bit", "ucs2"]

# TS 23.040 §9.1.2.5 type of number, named as the routed message and `pdu decode` name it.
TON_NAMES = ("unknown", "international", "national", "network", "subscriber", "alphanumeric",
             "abbreviated", "reserved")
TON_INTERNATIONAL = 1
TON_ALPHANUMERIC = 5

# TS 23.038 §4 message waiting indication types (bits 1..0 of the MWI coding groups).
MWI_TYPES = ("voicemail", "fax", "email", "other")


@dataclass(frozen=True)
class Address:
    """A TP address or the SMSC address: `number` is digits (`+` first if international) or text."""

    number: str
    toa: int

    @property
    def ton(self) -> int:
        return (self.toa >> 4) & 0x07

    @property
    def npi(self) -> int:
        return self.toa & 0x0F

    @property
    def type_name(self) -> str:
        return TON_NAMES[self.ton]

    @property
    def toa_hex(self) -> str:
        return f"{self.toa:02X}"


@dataclass(frozen=True)
class MessageWaiting:
    """The indication carried by a DCS of the message waiting groups 1100/1101/1110."""

    active: bool
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"active": self.active, "type": self.kind}


@dataclass(frozen=True)
class DataCoding:
    """TP-DCS read per TS 23.038 §4."""

    raw: int
    alphabet: Alphabet
    group: str
    message_class: int | None
    compressed: bool = False
    mwi: MessageWaiting | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "raw": f"{self.raw:02X}",
            "alphabet": self.alphabet,
            "class": self.message_class,
            "group": self.group,
        }
        if self.mwi is not None:
            out["mwi"] = self.mwi.to_json()
        if self.compressed:
            out["compressed"] = True
        return out


@dataclass(frozen=True)
class InformationElement:
    """One information element of the user data header, as it was on the wire."""

    iei: int
    data: bytes


@dataclass(frozen=True)
class Concatenation:
    """Concatenated short message IE (IEI 00: 8-bit reference, IEI 08: 16-bit reference)."""

    ref: int
    total: int
    seq: int
    ref_bits: int

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "total": self.total, "seq": self.seq, "ref_bits": self.ref_bits}


@dataclass(frozen=True)
class PortAddressing:
    """Application port addressing IE (IEI 04: 8-bit ports, IEI 05: 16-bit ports)."""

    dst: int
    src: int
    bits: int

    def to_json(self) -> dict[str, Any]:
        return {"dst": self.dst, "src": self.src}


@dataclass(frozen=True)
class SpecialIndication:
    """Special SMS message indication IE (IEI 01), TS 23.040 §9.2.3.24.2."""

    store: bool
    kind: int
    count: int
    extended_kind: int = 0
    profile: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"store": self.store, "type": self.kind, "count": self.count}
        if self.extended_kind:
            out["extended_type"] = self.extended_kind
        if self.profile:
            out["profile"] = self.profile
        return out


@dataclass(frozen=True)
class NationalLanguage:
    """National language shift IEs (IEI 25 locking shift, IEI 24 single shift)."""

    locking_shift: int | None
    single_shift: int | None
    unsupported: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.locking_shift is not None:
            out["locking_shift"] = self.locking_shift
        if self.single_shift is not None:
            out["single_shift"] = self.single_shift
        if self.unsupported:
            out["unsupported"] = True
        return out


@dataclass(frozen=True)
class Validity:
    """TP-VP of an SMS-SUBMIT: relative (a duration), absolute (a time) or enhanced (raw octets)."""

    format: Literal["relative", "absolute", "enhanced"]
    duration: timedelta | None = None
    time: datetime | None = None
    raw: bytes = b""

    def to_json(self) -> dict[str, Any]:
        if self.format == "relative" and self.duration is not None:
            return {"format": "relative", "seconds": int(self.duration.total_seconds())}
        if self.format == "absolute" and self.time is not None:
            return {"format": "absolute", "time": self.time.isoformat()}
        return {"format": self.format, "raw": self.raw.hex().upper()}


@dataclass(frozen=True)
class DecodedPdu:
    """One decoded SMS TPDU (with the SMSC address that preceded it, when there was one).

    `address` is TP-OA for SMS-DELIVER, TP-DA for SMS-SUBMIT and TP-RA for SMS-STATUS-REPORT.
    `user_data` is what the message carries after its header: octets for 8-bit data and UCS2
    (raw UTF-16BE code units, which is what lets a reassembler join a surrogate pair split
    across parts), septet values (one per byte) for GSM 7-bit text.
    """

    type: PduType
    first_octet: int
    smsc: Address | None
    address: Address
    pid: int | None
    dcs: DataCoding | None
    timestamp: datetime | None
    text: str | None
    user_data: bytes | None
    truncated: bool = False
    udh: tuple[InformationElement, ...] = ()
    concat: Concatenation | None = None
    ports: PortAddressing | None = None
    special_indications: tuple[SpecialIndication, ...] = ()
    national_language: NationalLanguage | None = None
    mr: int | None = None
    status: int | None = None
    discharge_time: datetime | None = None
    pi: int | None = None
    validity: Validity | None = None

    @property
    def more_messages_to_send(self) -> bool:
        """TP-MMS inverted: True when the SC has more messages waiting (DELIVER, STATUS-REPORT)."""
        return self.type != "SMS-SUBMIT" and not self.first_octet & 0x04

    @property
    def status_report_requested(self) -> bool:
        """TP-SRR (SUBMIT), TP-SRI (DELIVER): a status report was asked for / will be returned."""
        return self.type != "SMS-STATUS-REPORT" and bool(self.first_octet & 0x20)

    @property
    def reply_path(self) -> bool:
        return self.type != "SMS-STATUS-REPORT" and bool(self.first_octet & 0x80)

    def to_json(self) -> dict[str, Any]:
        """The decoding as JSON-ready data, in the shape of data/pdu-vectors.jsonl `expected`.

        Always: `type`, `text` (null for 8-bit data), `concat` ({ref, total, seq, ref_bits} or
        null), `dcs` ({raw, alphabet gsm7|8bit|ucs2, class, group general|auto-delete|reserved|
        mwi-discard|mwi-store|data-coding/class}, plus `mwi` {active, type} in the MWI groups
        and `compressed: true` for compressed text; null on a status report without TP-DCS),
        `smsc` (null when absent). SMS-DELIVER adds `sender`, `sender_type` (TS 23.040
        §9.1.2.5 name), `sender_toa`, `timestamp`, `pid`. SMS-STATUS-REPORT adds `sender` and
        `recipient` (both TP-RA), `sender_type`, `mr`, `status`, `timestamp`, `discharge_time`.
        SMS-SUBMIT adds `recipient`, `recipient_type`, `recipient_toa`, `mr`, `pid`, `validity`
        ({format relative, seconds} | {format absolute, time} | {format enhanced, raw} | null)
        and `status_report_requested`.

        Only when they apply: `data_hex` (8-bit or compressed user data after the header),
        `ucs2_hex` (the UCS2 user data octets after the header, given when they start or end
        with half of a surrogate pair, which `text` shows as U+FFFD; `join_text` joins such
        parts before decoding), `ports` ({dst, src}), `special_indication` ({store, type, count},
        with `extended_type`/`profile` when non-zero; the first IEI 01, all of them in
        `special_indications` when there are several), `national_language` ({locking_shift,
        single_shift} as given, `unsupported: true` when a table is missing and the default one
        was used), `truncated: true` (TP-UDL promised more than the PDU held), and on status
        reports carrying TP-PI: `pi`, and `pid` when TP-PI announces it.
        """
        out: dict[str, Any] = {"type": self.type}
        if self.type == "SMS-SUBMIT":
            out.update({
                "recipient": self.address.number,
                "recipient_type": self.address.type_name,
                "recipient_toa": self.address.toa_hex,
            })
        else:
            out["sender"] = self.address.number
            out["sender_type"] = self.address.type_name
        if self.type == "SMS-DELIVER":
            out["sender_toa"] = self.address.toa_hex
        elif self.type == "SMS-STATUS-REPORT":
            out["recipient"] = self.address.number
            out["mr"] = self.mr
            out["status"] = _hex(self.status)
        out["text"] = self.text
        if self.dcs is not None and self.user_data is not None:
            if self.text is None:
                out["data_hex"] = self.user_data.hex().upper()
            elif self.dcs.alphabet == "ucs2" and has_split_surrogate(self.user_data):
                out["ucs2_hex"] = self.user_data.hex().upper()
        if self.type == "SMS-SUBMIT":
            out["mr"] = self.mr
            out["validity"] = self.validity.to_json() if self.validity is not None else None
            out["status_report_requested"] = self.status_report_requested
        else:
            out["timestamp"] = _iso(self.timestamp)
        if self.type == "SMS-STATUS-REPORT":
            out["discharge_time"] = _iso(self.discharge_time)
        out["concat"] = self.concat.to_json() if self.concat is not None else None
        out["dcs"] = self.dcs.to_json() if self.dcs is not None else None
        if self.ports is not None:
            out["ports"] = self.ports.to_json()
        if self.special_indications:
            out["special_indication"] = self.special_indications[0].to_json()
            if len(self.special_indications) > 1:
                out["special_indications"] = [s.to_json() for s in self.special_indications]
        if self.national_language is not None:
            out["national_language"] = self.national_language.to_json()
        if self.type == "SMS-STATUS-REPORT":
            if self.pi is not None:
                out["pi"] = _hex(self.pi)
            if self.pid is not None:
                out["pid"] = _hex(self.pid)
        else:
            out["pid"] = _hex(self.pid)
        if self.truncated:
            out["truncated"] = True
        out["smsc"] = self.smsc.number if self.smsc is not None else None
        return out


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:02X}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def has_split_surrogate(ucs2: bytes) -> bool:
    """Whether UTF-16BE octets start with a low surrogate or end with a high one (a cut pair)."""
    whole = len(ucs2) - len(ucs2) % 2
    if whole < 2:
        return False
    return 0xDC <= ucs2[0] <= 0xDF or 0xD8 <= ucs2[whole - 2] <= 0xDB
