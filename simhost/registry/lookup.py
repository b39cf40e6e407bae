"""Finding registry records by what people type (a number or an ICCID), with the sentence to show when there is
none; the command line and the REST API share them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from simhost.inputs import NotFoundError
from simhost.registry import validate
from simhost.registry.models import SimSlot, WhitelistEntry
from simhost.registry.validate import ValidationError


def find_slot(s: Session, number: str, region: str) -> SimSlot:
    """The slot NUMBER names: an MSISDN in any form `region` reads, or an ICCID."""
    if validate.looks_like_iccid(number):
        iccid = validate.iccid(number)
        row = s.scalar(select(SimSlot).where(SimSlot.iccid == iccid))
        what = f"ICCID {iccid}"
    else:
        msisdn = validate.msisdn(number, region)
        row = s.scalar(select(SimSlot).where(SimSlot.msisdn == msisdn))
        what = f"number {msisdn}"
    if row is None:
        raise NotFoundError(f"no SIM slot has {what} (see `simhost slot list`)")
    return row


def label(slot: SimSlot) -> str:
    return f"{slot.msisdn} (bank {slot.bank} slot {slot.slot})"


def company_slot(s: Session, number: str, region: str) -> SimSlot:
    row = find_slot(s, number, region)
    if row.kind != "hosted-company":
        why = ("it rejects every alphanumeric sender" if row.kind in ("shared", "virtual")
               else "it accepts every alphanumeric sender")
        raise ValidationError(f"{label(row)} is a {row.kind} number: only hosted-company numbers have a sender "
                              f"whitelist ({why})")
    return row


def whitelist_entry(s: Session, slot_row: SimSlot, name: str) -> WhitelistEntry | None:
    return s.scalar(select(WhitelistEntry).where(WhitelistEntry.slot_id == slot_row.id,
                                                 WhitelistEntry.sender_key == validate.sender_key(name)))
