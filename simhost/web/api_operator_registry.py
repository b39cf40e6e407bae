"""The operators' registry endpoints (/admin): registering ports and SIM slots, changing slots, a customer's
details, forwarding and passwords; checked by simhost/registry as the command line checks them."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from simhost.registry import customers, forwarding, lookup, slots
from simhost.registry import ports as port_registry
from simhost.registry.models import SimSlot, WhitelistEntry, bump_version
from simhost.web.api_customer import forwarding_change
from simhost.web.auth import Operator_, State
from simhost.web.problems import ProblemError, referenced, responses
from simhost.web.schemas import (
    CustomerDetail,
    Forwarding,
    ForwardingChange,
    NewPassword,
    NewPort,
    NewSlot,
    RegisteredPort,
    RegisteredSlot,
    SlotChange,
    SlotOut,
    WhitelistOut,
)

router = APIRouter(prefix="/admin", tags=["operator"], responses=responses(401, 403, 422, 429))
MQTT_PASSWORD_NOTE = ("the broker learns it when `simhost mqtt acl` writes its password file again (the "
                      "dynamic-security plugin cannot take it from here: `simhost owner password` gives it at once)")


@router.post("/ports", status_code=201, response_model=RegisteredPort, responses=responses(409))
def add_port(body: NewPort, _who: Operator_, st: State) -> RegisteredPort:
    """Register a modem port, as `simhost port add` does; a running gateway picks it up at its next rescan."""
    try:
        with st.sessions.begin() as s:
            row = port_registry.add_port(s, body.name, body.url, body.driver)
    except IntegrityError:
        raise ProblemError(409, "Conflict", port_registry.duplicate(body.name), kind="conflict") from None
    return RegisteredPort.of(row, port_registry.missing_device(row.url))


@router.delete("/ports/{name}", status_code=204, responses=responses(404))
def remove_port(name: str, _who: Operator_, st: State) -> Response:
    """Unregister a port, as `simhost port remove` does."""
    with st.sessions.begin() as s:
        s.delete(port_registry.find_port(s, name))
    return Response(status_code=204)


def _slot_out(s: Session, row: SimSlot) -> SlotOut:
    out = SlotOut.of(row, slots.owner_login(s, row))
    if row.kind == "hosted-company":
        out.whitelist = [WhitelistOut.of(w, row.msisdn) for w in s.scalars(
            select(WhitelistEntry).where(WhitelistEntry.slot_id == row.id).order_by(WhitelistEntry.sender_key))]
    return out


@router.post("/slots", status_code=201, response_model=RegisteredSlot, responses=responses(409))
def add_slot(body: NewSlot, _who: Operator_, st: State) -> RegisteredSlot:
    """Register a SIM in a bank slot with its ICCID, number and kind, as `simhost slot add` does."""
    try:
        with st.sessions.begin() as s, referenced():
            made = slots.add_slot(s, bank=body.bank, slot=body.slot, iccid=body.iccid, msisdn=body.msisdn,
                                  kind=body.kind, region=st.settings.region, owner=body.owner, port=body.port,
                                  imsi=body.imsi)
    except IntegrityError:
        raise ProblemError(409, "Conflict", "the slot clashes with one registered meanwhile (see `simhost slot "
                                            "list`)", kind="conflict") from None
    return RegisteredSlot(**SlotOut.of(made.row, made.owner).model_dump(), note=made.note, warning=made.warning)


@router.get("/slots/{number}", response_model=SlotOut, responses=responses(404))
def get_slot(number: str, _who: Operator_, st: State) -> SlotOut:
    """The slot of NUMBER (an MSISDN in any form the default region reads, or an ICCID), with its whitelist."""
    with st.sessions() as s:
        return _slot_out(s, lookup.find_slot(s, number, st.settings.region))


@router.patch("/slots/{number}", response_model=SlotOut, responses=responses(404))
def change_slot(number: str, body: SlotChange, _who: Operator_, st: State) -> SlotOut:
    """Enable or disable NUMBER (`simhost slot enable|disable`), give it to a verified customer (`simhost slot
    assign`), or change its kind or port."""
    given = body.model_fields_set
    with st.sessions.begin() as s:
        row = lookup.find_slot(s, number, st.settings.region)
        with referenced():
            slots.change(s, row, kind=body.kind, owner=body.owner if "owner" in given else slots.UNSET,
                         port=body.port if "port" in given else slots.UNSET)
        if body.enabled is not None:
            slots.set_enabled(s, row, body.enabled)
        return _slot_out(s, row)


@router.get("/customers/{login}", response_model=CustomerDetail, responses=responses(404))
def get_customer(login: str, _who: Operator_, st: State) -> CustomerDetail:
    """A customer as `simhost owner show` shows it: state, forwarding (secrets only as set or not), numbers."""
    with st.sessions() as s:
        c = customers.find(s, login)
        return CustomerDetail.of(c, list(s.scalars(select(SimSlot).where(SimSlot.owner_id == c.id)
                                                   .order_by(SimSlot.msisdn))))


@router.put("/customers/{login}/forwarding", response_model=Forwarding, responses=responses(404))
def put_forwarding(login: str, body: ForwardingChange, _who: Operator_, st: State) -> Forwarding:
    """Change where a customer's messages go, as `simhost owner forward` and the customer's own `PUT /forwarding`
    do; a signing secret or SMPP password made is in the answer, only this once."""
    change = forwarding_change(body, st.settings.region)
    with st.sessions.begin() as s:
        c = customers.find(s, login)
        made = forwarding.apply(s, c, change, datetime.now(UTC))
        if not change.empty:
            bump_version(s)
    return Forwarding.of(c, made.http_secret, made.smpp_password)


def _password(login: str, st: State, web: bool) -> NewPassword:
    with st.sessions.begin() as s:
        c = customers.find(s, login)
        password = customers.new_password(s, c, web=web)
    return NewPassword(login=c.login, password=password, note=None if web else MQTT_PASSWORD_NOTE)


@router.post("/customers/{login}/mqtt-password", response_model=NewPassword, responses=responses(404))
def new_mqtt_password(login: str, _who: Operator_, st: State) -> NewPassword:
    """A new MQTT password for the customer (also its web password while it has none of its own), as `simhost
    owner password` makes one; shown only this once."""
    return _password(login, st, web=False)


@router.post("/customers/{login}/web-password", response_model=NewPassword, responses=responses(404))
def new_web_password(login: str, _who: Operator_, st: State) -> NewPassword:
    """A web sign-in password of the customer's own, as `simhost owner password --web` makes one; shown only this
    once. Its sessions signed in with the old one end."""
    return _password(login, st, web=True)
