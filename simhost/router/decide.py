"""The routing decision: a pure function of (message, directory snapshot, time) by the service rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simhost.gateway.numbers import WITHHELD
from simhost.router.directory import DEDICATED_KINDS, CustomerEntry, Directory, NumberEntry
from simhost.topics import SCHEMA_VERSION

REPLY_WINDOW = timedelta(days=14)
KINDS = ("sms", "call", "undecodable")
# `login: text` after leading white space; a login has neither white space nor a colon, so `acme:hi: x` is no prefix
PREFIX_RE = re.compile(r"\s*([^\s:]+): (.*)", re.DOTALL)
STRING_FIELDS = ("sender", "sender_type", "text", "number", "iccid", "port")


@dataclass(frozen=True)
class Decision:
    status: str  # "routed" | "unrouted" | "rejected"
    owner: str | None  # customer login as registered, when routed
    rule: str | None  # "dedicated" | "prefix" | "reply", when routed
    reason_code: str  # stable token for scripts; equals `rule` when routed
    reason: str  # one English sentence naming the facts
    number: str | None  # the receiving MSISDN as resolved from the payload's number or ICCID
    number_kind: str | None
    text_without_prefix: str | None = None


def _routed(owner: CustomerEntry, rule: str, reason: str, number: NumberEntry,
            text_without_prefix: str | None = None) -> Decision:
    return Decision("routed", owner.login, rule, rule, reason, number.msisdn, number.kind, text_without_prefix)


def _not_routed(status: str, code: str, reason: str, number: NumberEntry | None) -> Decision:
    return Decision(status, None, None, code, reason, number.msisdn if number else None,
                    number.kind if number else None)


def _prefix(text: str) -> tuple[str, str] | None:
    """(login, text after `login: `) when `text` starts with a login prefix after leading white space."""
    m = PREFIX_RE.match(text)
    return (m.group(1), m.group(2)) if m else None


def _problem(message: Any) -> str | None:
    """Why `message` cannot be routed at all, or None when it has what routing reads."""
    if not isinstance(message, Mapping):
        return f"the message is a {type(message).__name__}, not a JSON object"
    kind = message.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        return f"`kind` is {kind!r}, not one of {', '.join(KINDS)}"
    for key in STRING_FIELDS:
        value = message.get(key)
        if value is not None and not isinstance(value, str):
            return f"`{key}` is a {type(value).__name__}, not a string"
    if kind != "undecodable" and not message.get("sender"):
        return f"the {kind} has no sender"
    return None


def _whitelisted(sender: str, number: NumberEntry) -> bool:
    name = sender.casefold()
    return name in number.whitelist or any(w.casefold() == name for w in number.whitelist)


def _what(kind: str, sender: str, withheld: bool) -> str:
    if kind == "undecodable":
        return "an undecodable message"
    if withheld:
        return "a call from a withheld number" if kind == "call" else "an SMS from a withheld sender"
    return f"a call from {sender}" if kind == "call" else f"an SMS from {sender}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _mismatch(message: Mapping[str, Any], directory: Directory, topic_port: str) -> str | None:
    """Why `message`, published on the inbound topic of `topic_port`, contradicts itself or the registry."""
    port = message.get("port")
    if port is not None and port != topic_port:
        return f"it names port {str(port)[:64]!r} but came on the topic of port {topic_port!r}"
    msisdn, iccid = message.get("number"), message.get("iccid")
    if iccid is not None and not iccid.isdigit():
        iccid = None  # a gateway that could not read the SIM's ICCID says so ("unknown")
    by_number = directory.numbers.get(msisdn) if msisdn else None
    if by_number is not None and iccid and by_number.iccid and by_number.iccid != iccid:
        owner = directory.number(None, iccid)
        sim = f"the SIM of {owner.msisdn}" if owner is not None else "an unregistered SIM"
        return f"its number {by_number.msisdn} belongs to ICCID {by_number.iccid}, but ICCID {iccid[:22]} is {sim}"
    number = by_number or (directory.number(None, iccid) if iccid else None)
    if number is not None and number.port is not None and number.port != topic_port:
        return f"number {number.msisdn} is registered on port {number.port}, not on {topic_port}"
    return None


def decide(message: Mapping[str, Any], directory: Directory, now: datetime, *,
           reply_window: timedelta = REPLY_WINDOW, topic_port: str | None = None) -> Decision:
    """Who owns `message` by the first rule that applies: dedicated number, `login: ` prefix, reply; never raises
    on a malformed message (that is unrouted with reason code `bad-payload`). With `topic_port` (the port named by
    the topic the message came on), a message that disagrees with it or with the registry's record of that port is
    unrouted with reason code `port-mismatch`."""
    problem = _problem(message)
    if problem is not None:
        return _not_routed("unrouted", "bad-payload", f"The inbound message is malformed: {problem}.", None)
    if topic_port is not None:
        mismatch = _mismatch(message, directory, topic_port)
        if mismatch is not None:
            return _not_routed("unrouted", "port-mismatch",
                               f"The inbound message does not fit its port: {mismatch}.", None)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    kind: str = message["kind"]
    sender: str = message.get("sender") or ""
    alphanumeric = message.get("sender_type") == "alphanumeric"
    withheld = sender == WITHHELD or message.get("sender_type") == WITHHELD
    what = _what(kind, sender, withheld)

    number = directory.number(message.get("number"), message.get("iccid"))
    if number is None:
        return _not_routed("unrouted", "unknown-number",
                           f"The receiving number of {what} is not registered (number "
                           f"{message.get('number') or 'not given'}, ICCID {message.get('iccid') or 'not given'}).",
                           None)
    where = f"{number.kind} number {number.msisdn}"
    if not number.enabled:
        return _not_routed("rejected", "number-disabled", f"The {where} is disabled, so {what} is rejected.", number)

    if number.kind in DEDICATED_KINDS:
        owner = directory.customer(number.owner) if number.owner else None
        if owner is None:
            detail = f"owner {number.owner} is not a registered customer" if number.owner else "has no owner"
            return _not_routed("unrouted", "no-owner", f"The {where} {detail}, so {what} is unassigned.", number)
        if not owner.enabled:
            return _not_routed("rejected", "owner-disabled",
                               f"Customer {owner.login}, owner of the {where}, is disabled, so {what} is rejected.",
                               number)
        if alphanumeric and kind != "undecodable":
            if number.kind == "virtual":
                return _not_routed("rejected", "alphanumeric-rejected",
                                   f"Alphanumeric sender {sender!r} is not accepted on the {where}.", number)
            if number.kind == "hosted-company" and not _whitelisted(sender, number):
                return _not_routed("rejected", "sender-not-whitelisted",
                                   f"Alphanumeric sender {sender!r} is not on the whitelist of the {where}.", number)
        return _routed(owner, "dedicated", f"The {where}, which received {what}, belongs to {owner.login}.", number)

    if kind == "undecodable":
        return _not_routed("unrouted", "undecodable",
                           f"An undecodable message on the {where} cannot be attributed to a customer.", number)
    if alphanumeric:
        return _not_routed("rejected", "alphanumeric-rejected",
                           f"Alphanumeric sender {sender!r} is not accepted on the {where}.", number)

    notes: list[str] = []
    prefix_failed = False
    text = message.get("text")
    if kind == "sms" and text is not None:
        found = _prefix(text)
        if found is not None:
            login, rest = found
            customer = directory.customer(login)
            if customer is not None and customer.enabled:
                return _routed(customer, "prefix", f"{_cap(what)} on the {where} starts with the login "
                               f"prefix of {customer.login}.", number, text_without_prefix=rest)
            prefix_failed = True
            notes.append(f"its prefix names {'disabled' if customer else 'unknown'} login {login!r}")

    if withheld:
        code = "unknown-prefix-login" if prefix_failed else "withheld-no-reply"
        notes.append("a withheld sender cannot be matched to a send")
    else:
        send = directory.last_send(sender, now)
        if send is not None and now - send.at <= reply_window:
            customer = directory.customer(send.owner)
            if customer is not None and customer.enabled:
                return _routed(customer, "reply", f"{_cap(what)} on the {where} replies to {customer.login}, "
                               f"who sent to {sender} at {send.at.isoformat()}.", number)
            state = "disabled" if customer is not None else "not a registered customer"
            notes.append(f"the last send to {sender} (at {send.at.isoformat()}) was by {send.owner}, who is {state}")
        elif send is not None:
            notes.append(f"the last send to {sender} was at {send.at.isoformat()}, older than "
                         f"{_span(reply_window)} at {now.isoformat()}")
        else:
            notes.append(f"no send to {sender} is recorded")
        code = "unknown-prefix-login" if prefix_failed else "no-match"
    return _not_routed("unrouted", code, f"{_cap(what)} on the {where} matches no customer: "
                       f"{'; '.join(notes)}.", number)


def _span(window: timedelta) -> str:
    if window.seconds == 0 and window.microseconds == 0:
        return f"{window.days} days"
    return str(window)


def routed_payload(message: Mapping[str, Any], decision: Decision) -> dict[str, Any]:
    """The published payload (ARCHITECTURE.md §3): the inbound message's fields plus the decision, and for an
    unrouted or rejected message its status and reason."""
    out: dict[str, Any] = dict(message) if isinstance(message, Mapping) else {"raw": message}
    out["schema"] = SCHEMA_VERSION
    out["number"] = decision.number or out.get("number")
    out["number_kind"] = decision.number_kind
    out["owner"] = decision.owner
    out["rule"] = decision.rule
    out["status"] = decision.status
    if decision.text_without_prefix is not None:
        out["text_without_prefix"] = decision.text_without_prefix
    else:
        out.pop("text_without_prefix", None)
    if decision.status != "routed":
        out["reason_code"] = decision.reason_code
        out["reason"] = decision.reason
    else:
        out.pop("reason_code", None)
        out.pop("reason", None)
    return out
