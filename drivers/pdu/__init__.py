"""SMS PDU codec (3GPP TS 23.040/23.038): decode what modems list, encode SMS-SUBMIT, join parts."""

from simhost_drivers.pdu.decoder import decode_dcs, decode_pdu, decode_timestamp
from simhost_drivers.pdu.encoder import SubmitPdu, count_parts, encode_submit
from simhost_drivers.pdu.errors import PduError
from simhost_drivers.pdu.gsm7 import LANGUAGE_NAMES, LOCKING_TABLES, SHIFT_TABLES
from simhost_drivers.pdu.model import (
    Address,
    Concatenation,
    DataCoding,
    DecodedPdu,
    InformationElement,
    MessageWaiting,
    NationalLanguage,
    PortAddressing,
    SpecialIndication,
    Validity,
)
from simhost_drivers.pdu.reassembly import join_text

__all__ = [
    "LANGUAGE_NAMES",
    "LOCKING_TABLES",
    "SHIFT_TABLES",
    "Address",
    "Concatenation",
    "DataCoding",
    "DecodedPdu",
    "InformationElement",
    "MessageWaiting",
    "NationalLanguage",
    "PduError",
    "PortAddressing",
    "SpecialIndication",
    "SubmitPdu",
    "Validity",
    "count_parts",
    "decode_dcs",
    "decode_pdu",
    "decode_timestamp",
    "encode_submit",
    "join_text",
]
