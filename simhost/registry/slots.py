"""Registering SIM slots and changing them (enabled, owner, port, kind) with the checks and sentences that
`simhost slot` and the operators' REST API share; every change bumps the registry's version."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from simhost.inputs import ConflictError, InputError, shown
from simhost.models import InboundPart
from simhost.registry import customers, validate
from simhost.registry.lookup import label
from simhost.registry.models import Customer, SimSlot, bump_version
from simhost.registry.ports import find_port
from simhost.router.directory import DEDICATED_KINDS

UNSET = object()  # a change that leaves a field as it is


def conflict(s: Session, bank: int, slot: int, iccid: str, msisdn: str) -> str | None:
    """A sentence naming the registered slot that a new one would clash with, or None."""
    row = s.scalar(select(SimSlot).where(SimSlot.iccid == iccid))
    if row is not None:
        return f"ICCID {iccid} is already registered to bank {row.bank} slot {row.slot} ({row.msisdn})"
    row = s.scalar(select(SimSlot).where(SimSlot.msisdn == msisdn))
    if row is not None:
        return f"MSISDN {msisdn} is already registered to bank {row.bank} slot {row.slot} (ICCID {row.iccid})"
    row = s.scalar(select(SimSlot).where(SimSlot.bank == bank, SimSlot.slot == slot))
    if row is not None:
        return f"bank {bank} slot {slot} already holds ICCID {row.iccid} ({row.msisdn})"
    return None


def dedicated_owner(s: Session, kind: str, login: str) -> Customer:
    """The customer `login` if it may own a number of `kind` (dedicated kinds need a verified customer)."""
    if kind not in DEDICATED_KINDS:
        raise InputError(f"a {kind} number has no owner (its messages are assigned one by one); "
                         "leave out --owner or choose a dedicated kind")
    customer = customers.find(s, login)
    if not customer.verified:
        raise InputError(
            f"customer {customer.login!r} is not verified: only verified customers may own {kind} numbers "
            f"(`simhost owner verify {customer.login}` once their documents are checked)")
    return customer


@dataclass
class NewSlot:
    """A registered slot, its owner's login, and what the one registering it should be told."""

    row: SimSlot
    owner: str | None
    note: str | None = None  # a dedicated number without an owner
    warning: str | None = None  # the port's last SMS came from another SIM


def add_slot(s: Session, *, bank: int, slot: int, iccid: str, msisdn: str, kind: str, region: str,
             owner: str | None = None, port: str | None = None, imsi: str | None = None) -> NewSlot:
    """Register the SIM in bank `bank` slot `slot` (checked) in the caller's transaction; a ConflictError names the
    slot it clashes with."""
    if bank < 0 or slot < 0:
        raise InputError("bank and slot are numbers from 0")
    icc = validate.iccid(iccid)
    number = validate.msisdn(msisdn, region)
    k = validate.kind(kind)
    if imsi is not None and not (imsi.isdigit() and 6 <= len(imsi) <= 15):
        raise InputError(f"IMSI {shown(imsi)} is not valid: an IMSI has 6 to 15 digits")
    clash = conflict(s, bank, slot, icc, number)
    if clash:
        raise ConflictError(clash)
    customer = dedicated_owner(s, k, owner) if owner is not None else None
    live: str | None = None
    if port is not None:
        find_port(s, port)
        live = s.scalar(select(InboundPart.iccid).where(InboundPart.port == port)
                        .order_by(InboundPart.received_at.desc()).limit(1))
    row = SimSlot(bank=bank, slot=slot, iccid=icc, imsi=imsi, msisdn=number, kind=k,
                  owner_id=customer.id if customer else None, enabled=True, port=port)
    s.add(row)
    s.flush()
    bump_version(s)
    made = NewSlot(row, customer.login if customer else None)
    if k in DEDICATED_KINDS and customer is None:
        made.note = (f"{number} has no owner yet, so its messages stay unrouted until "
                     f"`simhost slot assign {number} --owner LOGIN`")
    if live is not None and live.rstrip("fF") != icc:
        made.warning = (f"the last SMS on port {port} came from the SIM with ICCID {live}, not {icc}: "
                        "check which SIM is in the slot")
    return made


def set_enabled(s: Session, row: SimSlot, value: bool) -> bool:
    """Enable or disable the number; whether that changed anything."""
    changed = row.enabled != value
    row.enabled = value
    if changed:
        bump_version(s)
    return changed


def owner_login(s: Session, row: SimSlot) -> str | None:
    return s.scalar(select(Customer.login).where(Customer.id == row.owner_id)) if row.owner_id else None


def assign(s: Session, row: SimSlot, login: str) -> tuple[Customer, str | None]:
    """Give the dedicated number to customer `login`; the customer and the login it had before."""
    if row.kind not in DEDICATED_KINDS:
        raise InputError(f"{label(row)} is a shared number: shared numbers have no owner")
    customer = dedicated_owner(s, row.kind, login)
    before = owner_login(s, row)
    row.owner_id = customer.id
    bump_version(s)
    return customer, before


def change(s: Session, row: SimSlot, *, kind: str | None = None, owner: str | object | None = UNSET,
           port: str | object | None = UNSET) -> bool:
    """Change the number's kind, owner (None: none) and port (None: none) together, checked as one: a shared
    number ends without an owner, a dedicated one's owner is verified. Whether anything changed."""
    before = (row.kind, row.owner_id, row.port)
    new_kind = validate.kind(kind) if kind is not None else row.kind
    if kind is None and owner not in (UNSET, None) and row.kind not in DEDICATED_KINDS:
        raise InputError(f"{label(row)} is a shared number: shared numbers have no owner")
    if owner is UNSET:
        if new_kind != row.kind and row.owner_id is not None:
            if new_kind not in DEDICATED_KINDS:
                raise InputError(f"{label(row)} belongs to {owner_login(s, row)}: a {new_kind} number has no "
                                 "owner, so give no owner with it")
            dedicated_owner(s, new_kind, owner_login(s, row) or "")
    elif owner is None:
        row.owner_id = None
    else:
        row.owner_id = dedicated_owner(s, new_kind, str(owner)).id
    row.kind = new_kind
    if port is not UNSET:
        row.port = find_port(s, str(port)).name if port is not None else None
    changed = (row.kind, row.owner_id, row.port) != before
    if changed:
        bump_version(s)
    return changed
