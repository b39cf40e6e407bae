"""SMPP 3.4 PDUs: the header, the bodies the server reads and writes, and their optional parameters (TLVs).

Written here rather than taken from a library: the server needs a dozen PDUs, every field bounded as the
specification bounds it (a hostile client must get an error status, never an exception from deep inside a
decoder), and typed. The tests read what it writes with two independent implementations (python-smpplib and
Jasmin's smpp.pdu).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = struct.Struct(">IIII")
HEADER_LEN = HEADER.size
PDU_MAX = 64 * 1024  # a submit_sm with a full message_payload fits; anything longer is garbage or an attack

RESPONSE = 0x80000000
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
BINDS = (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER)

# command_status values (SMPP 3.4 §5.1.3)
ROK = 0x00
RINVMSGLEN = 0x01
RINVCMDLEN = 0x02
RINVCMDID = 0x03
RINVBNDSTS = 0x04
RALYBND = 0x05
RSYSERR = 0x08
RMSGQFUL = 0x14
RINVSRCADR = 0x0A
RINVDSTADR = 0x0B
RBINDFAIL = 0x0D
RINVPASWD = 0x0E
RINVSYSID = 0x0F
RINVESMCLASS = 0x43
RSUBMITFAIL = 0x45
RTHROTTLED = 0x58
RINVOPTPARSTREAM = 0xC0
RX_T_APPN = 0x64
RX_P_APPN = 0x65

# optional parameter tags
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_SC_INTERFACE_VERSION = 0x0210
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427

ESM_UDHI = 0x40
ESM_RECEIPT = 0x04

INTERFACE_VERSION = 0x34


class PduError(Exception):
    """A PDU that cannot be read: `status` is the command_status to answer it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Header:
    length: int
    command_id: int
    status: int
    seq: int

    @classmethod
    def parse(cls, data: bytes) -> Header:
        length, command_id, status, seq = HEADER.unpack(data)
        return cls(length, command_id, status, seq)


def encode(command_id: int, seq: int, body: bytes = b"", status: int = ROK) -> bytes:
    return HEADER.pack(HEADER_LEN + len(body), command_id, status, seq) + body


class _Reader:
    """Reads a body field by field; running past the end or an over-long string is a PduError."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def cstring(self, max_len: int, name: str) -> str:
        end = self.body.find(b"\0", self.pos, self.pos + max_len)
        if end < 0:
            raise PduError(RINVMSGLEN, f"{name} is not a string of at most {max_len - 1} octets")
        raw = self.body[self.pos:end]
        self.pos = end + 1
        return raw.decode("latin-1")

    def int1(self, name: str) -> int:
        if self.pos >= len(self.body):
            raise PduError(RINVMSGLEN, f"the PDU ends before {name}")
        self.pos += 1
        return self.body[self.pos - 1]

    def octets(self, n: int, name: str) -> bytes:
        if self.pos + n > len(self.body):
            raise PduError(RINVMSGLEN, f"the PDU ends inside {name}")
        self.pos += n
        return self.body[self.pos - n:self.pos]

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self.pos < len(self.body):
            if self.pos + 4 > len(self.body):
                raise PduError(RINVOPTPARSTREAM, "an optional parameter's header is cut short")
            tag, length = struct.unpack_from(">HH", self.body, self.pos)
            self.pos += 4
            if self.pos + length > len(self.body):
                raise PduError(RINVOPTPARSTREAM, f"optional parameter 0x{tag:04x} is longer than the PDU")
            found[tag] = self.body[self.pos:self.pos + length]
            self.pos += length
        return found


@dataclass(frozen=True)
class Bind:
    system_id: str
    password: str
    system_type: str
    interface_version: int


def parse_bind(body: bytes) -> Bind:
    r = _Reader(body)
    system_id = r.cstring(16, "system_id")
    password = r.cstring(9, "password")
    system_type = r.cstring(13, "system_type")
    version = r.int1("interface_version")
    r.int1("addr_ton")
    r.int1("addr_npi")
    r.cstring(41, "address_range")
    return Bind(system_id, password, system_type, version)


def bind_resp(command_id: int, seq: int, status: int, system_id: str) -> bytes:
    if status != ROK:
        return encode(command_id | RESPONSE, seq, b"", status)
    body = _cstring(system_id, 16) + _tlv(TLV_SC_INTERFACE_VERSION, bytes([INTERFACE_VERSION]))
    return encode(command_id | RESPONSE, seq, body)


@dataclass(frozen=True)
class ShortMessage:
    """The fields of a submit_sm or deliver_sm."""

    source_addr: str
    destination_addr: str
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 0
    dest_npi: int = 0
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    service_type: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)


def parse_short_message(body: bytes) -> ShortMessage:
    r = _Reader(body)
    service_type = r.cstring(6, "service_type")
    source_ton, source_npi = r.int1("source_addr_ton"), r.int1("source_addr_npi")
    source = r.cstring(21, "source_addr")
    dest_ton, dest_npi = r.int1("dest_addr_ton"), r.int1("dest_addr_npi")
    destination = r.cstring(21, "destination_addr")
    esm_class = r.int1("esm_class")
    r.int1("protocol_id")
    r.int1("priority_flag")
    r.cstring(17, "schedule_delivery_time")
    r.cstring(17, "validity_period")
    registered_delivery = r.int1("registered_delivery")
    r.int1("replace_if_present_flag")
    data_coding = r.int1("data_coding")
    r.int1("sm_default_msg_id")
    sm_length = r.int1("sm_length")
    short_message = r.octets(sm_length, "short_message")
    return ShortMessage(source, destination, source_ton, source_npi, dest_ton, dest_npi, esm_class,
                        registered_delivery, data_coding, short_message, service_type, r.tlvs())


def short_message_body(m: ShortMessage) -> bytes:
    """The body of a deliver_sm (or submit_sm) carrying `m`; short_message over 254 octets is an error of ours."""
    if len(m.short_message) > 254:
        raise ValueError("short_message over 254 octets: use message_payload")
    return (_cstring(m.service_type, 6) + bytes([m.source_ton, m.source_npi]) + _cstring(m.source_addr, 21)
            + bytes([m.dest_ton, m.dest_npi]) + _cstring(m.destination_addr, 21)
            + bytes([m.esm_class, 0, 0]) + b"\0\0"  # protocol_id, priority; no schedule, no validity
            + bytes([m.registered_delivery, 0, m.data_coding, 0, len(m.short_message)]) + m.short_message
            + b"".join(_tlv(tag, value) for tag, value in m.tlvs.items()))


def submit_sm_resp(seq: int, status: int, message_id: str) -> bytes:
    return encode(SUBMIT_SM | RESPONSE, seq, b"" if status != ROK else _cstring(message_id, 65), status)


def _cstring(value: str, max_len: int) -> bytes:
    raw = value.encode("latin-1", errors="replace")[:max_len - 1]
    return raw + b"\0"


def _tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def tlv_int(tlvs: dict[int, bytes], tag: int) -> int | None:
    raw = tlvs.get(tag)
    if raw is None or not 1 <= len(raw) <= 4:
        return None
    return int.from_bytes(raw, "big")
