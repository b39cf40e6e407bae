"""What an SMPP message says and how a routed message is said in SMPP: data codings, concatenation, receipts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from simhost.registry.forwarding import LONG_MODES
from simhost.smpp import pdu
from simhost.smpp.pdu import PduError, ShortMessage
from simhost_drivers.pdu.encoder import split_text
from simhost_drivers.pdu.gsm7 import decode_septets

DC_DEFAULT, DC_IA5, DC_BINARY, DC_LATIN1, DC_UCS2 = 0, 1, 4, 3, 8
TON_UNKNOWN, TON_INTERNATIONAL, TON_NATIONAL, TON_NETWORK, TON_ALPHANUMERIC = 0, 1, 2, 3, 5
NPI_UNKNOWN, NPI_ISDN = 0, 1
UDH_MODE, PAYLOAD_MODE = LONG_MODES
SOURCE_TYPES = {"international": (TON_INTERNATIONAL, NPI_ISDN), "national": (TON_NATIONAL, NPI_ISDN),
                "short": (TON_NETWORK, NPI_UNKNOWN), "alphanumeric": (TON_ALPHANUMERIC, NPI_UNKNOWN)}


@dataclass(frozen=True)
class Part:
    """A submitted message or one part of it: its text, and where it belongs when it is a part."""

    text: str
    ref: int | None = None  # concatenation reference; None: a whole message
    total: int = 1
    seq: int = 1


def submitted(m: ShortMessage) -> Part:
    """The text of a submit_sm (message_payload or short_message, a UDH or SAR concatenation read off)."""
    data = m.tlvs.get(pdu.TLV_MESSAGE_PAYLOAD, m.short_message)
    ref: int | None = None
    total = seq = 1
    if m.esm_class & pdu.ESM_UDHI:
        if not data or data[0] + 1 > len(data):
            raise PduError(pdu.RINVESMCLASS, "esm_class says a user data header follows, but none fits")
        header, data = data[1:data[0] + 1], data[data[0] + 1:]
        concat = _udh_concatenation(header)
        if concat is not None:
            ref, total, seq = concat
    elif (sar_ref := pdu.tlv_int(m.tlvs, pdu.TLV_SAR_MSG_REF_NUM)) is not None:
        total = pdu.tlv_int(m.tlvs, pdu.TLV_SAR_TOTAL_SEGMENTS) or 1
        seq = pdu.tlv_int(m.tlvs, pdu.TLV_SAR_SEGMENT_SEQNUM) or 1
        ref = sar_ref
    if ref is not None and not 1 <= seq <= total:
        raise PduError(pdu.RSUBMITFAIL, f"part {seq} of {total}: no such part")
    return Part(_decode(m.data_coding, data), ref if total > 1 else None, total, seq)


def _udh_concatenation(header: bytes) -> tuple[int, int, int] | None:
    i = 0
    while i + 2 <= len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2:i + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4 and len(value) == 4:
            return int.from_bytes(value[:2], "big"), value[2], value[3]
        i += 2 + length
    return None


def _decode(data_coding: int, data: bytes) -> str:
    try:
        if data_coding in (DC_DEFAULT, 0xF0):
            return decode_septets(list(data))
        if data_coding == DC_IA5:
            return data.decode("ascii")
        if data_coding == DC_LATIN1:
            return data.decode("latin-1")
        if data_coding == DC_UCS2:
            return data.decode("utf-16-be")
    except (UnicodeDecodeError, IndexError, ValueError):
        raise PduError(pdu.RSUBMITFAIL, f"the text is not valid in data_coding {data_coding}") from None
    raise PduError(pdu.RSUBMITFAIL, f"data_coding {data_coding} is not one simhost can send (0, 1, 3 or 8)")


def address(sender: str | None, sender_type: str | None) -> tuple[str, int, int]:
    """(source_addr, TON, NPI) of a routed message's sender: international numbers without their +."""
    if not sender or sender_type == "withheld":
        return "", TON_UNKNOWN, NPI_UNKNOWN
    ton, npi = SOURCE_TYPES.get(sender_type or "", (TON_UNKNOWN, NPI_ISDN))
    return (sender.lstrip("+") if ton == TON_INTERNATIONAL else sender), ton, npi


def deliveries(message_id: str, source: tuple[str, int, int], destination: str, text: str | None,
               data: bytes | None, long_mode: str) -> list[ShortMessage]:
    """The deliver_sm PDUs (as ShortMessages) that carry one message: GSM 7-bit (data_coding 0) when every
    character has a code, else UCS2 (8); 8-bit data as data_coding 4; a long one as UDH-concatenated parts or
    one message_payload. The reference of the parts follows from the message id, the same on every resend."""
    addr, ton, npi = source
    base = ShortMessage(addr, destination.lstrip("+"), ton, npi, TON_INTERNATIONAL, NPI_ISDN)
    if text is None:
        gsm7, chunks, dc = False, [data or b""], DC_BINARY
    else:
        gsm7, chunks = split_text(text)
        dc = DC_DEFAULT if gsm7 else DC_UCS2
    if len(chunks) == 1 and len(chunks[0]) <= 254:
        return [replace(base, data_coding=dc, short_message=chunks[0])]
    if long_mode == PAYLOAD_MODE or text is None:
        return [replace(base, data_coding=dc, tlvs={pdu.TLV_MESSAGE_PAYLOAD: b"".join(chunks)})]
    ref = hashlib.sha256(message_id.encode()).digest()[0]
    return [replace(base, data_coding=dc, esm_class=pdu.ESM_UDHI,
                  short_message=bytes([5, 0x00, 3, ref, len(chunks), i]) + chunk)
            for i, chunk in enumerate(chunks, 1)]


# a send's state and reason -> the receipt's stat word and message_state value (SMPP 3.4 Appendix B, §5.2.28)
RECEIPT_STATES = {"delivered": ("DELIVRD", 2), "expired": ("EXPIRED", 3), "refused": ("REJECTD", 8),
                  "failed": ("UNDELIV", 5), "unknown": ("UNKNOWN", 7)}


def receipt(send_id: str, state: str, reason_code: str | None, our_number: str, recipient: str,
            submitted_at: datetime, done_at: datetime, text: str, parts: int) -> ShortMessage:
    """The deliver_sm receipt of a send that reached a final state, in the customary Appendix B text."""
    key = reason_code if state == "failed" and reason_code in ("expired", "refused") else state
    stat, message_state = RECEIPT_STATES.get(key, RECEIPT_STATES["unknown"])
    delivered = parts if state == "delivered" else 0
    body = (f"id:{send_id} sub:{parts:03d} dlvrd:{delivered:03d} submit date:{submitted_at:%y%m%d%H%M} "
            f"done date:{done_at:%y%m%d%H%M} stat:{stat} err:000 text:"
            + text[:20].encode("ascii", errors="replace").decode())
    return ShortMessage(recipient.lstrip("+"), our_number.lstrip("+"), TON_INTERNATIONAL, NPI_ISDN,
                        TON_INTERNATIONAL, NPI_ISDN, esm_class=pdu.ESM_RECEIPT, short_message=body.encode("ascii"),
                        tlvs={pdu.TLV_RECEIPTED_MESSAGE_ID: send_id.encode() + b"\0",
                              pdu.TLV_MESSAGE_STATE: bytes([message_state])})
