"""The routing decision: a pure function of (message, directory snapshot, time) by the service rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simhost.router.directory import DEDICATED_KINDS, CustomerEntry, Directory, NumberEntry
from simhost.topics import SCHEMA_VERSION

REPLY_WINDOW = timedelta(days=14)
KINDS = ("sms", "call", "undecodable")
WITHHELD = "withheld"


@dataclass(frozen=True)
class Decision:
    status: str  # "routed" | "unrouted" | "rejected"
    owner: str | None
    rule: str | None  # "dedicated" | "prefix" | "reply"
    reason_code: str
    reason: str
    number: str | None
    number_kind: str | None
    text_without_prefix: str | None = None


def _routed(owner: CustomerEntry, rule: str, reason: str, number: NumberEntry,
            text_without_prefix: str | None = None) -> Decision:
    return Decision("routed", owner.login, rule, rule, reason, number.msisdn, number.kind, text_without_prefix)


def _not_routed(status: str, code: str, reason: str, number: NumberEntry | None) -> Decision:
    return Decision(status, None, None, code, reason, number.msisdn if number else None,
                    number.kind if number else None)


def _prefix(text: str) -> tuple[str, str] | None:
    """(login, rest) when `text` starts with `login: ` after leading white space."""
    head, sep, rest = text.lstrip().partition(": ")
    if not sep or not head or any(c.isspace() for c in head):
        return None
    return head, rest


def _check(message: Mapping[str, Any]) -> str | None:
    """Why `message` cannot be routed at all, or None when it has what routing reads."""
    if not isinstance(message, Mapping):
        return "the message is not a JSON object"
    if message.get("kind") not in KINDS:
        return f"unknown kind {message.get('kind')!r}"
    for key in ("sender", "text", "number", "iccid", "sender_type"):
        if message.get(key) is not None and not isinstance(message.get(key), str):
            return f"`{key}` is not a string"
    if message.get("kind") != "undecodable" and not message.get("sender"):
        return "no sender"
    return None


def decide(message: Mapping[str, Any], directory: Directory, now: datetime, *,
           reply_window: timedelta = REPLY_WINDOW) -> Decision:
    """Who owns `message` by the first rule that applies: dedicated number, `login: ` prefix, reply."""
    problem = _check(message)
    if problem is not None:
        return _not_routed("unrouted", "bad-payload", f"bad payload: {problem}", None)
    kind = message["kind"]
    sender = message.get("sender") or ""
    alphanumeric = message.get("sender_type") == "alphanumeric"
    number = directory.number(message.get("number"), message.get("iccid"))
    if number is None:
        return _not_routed("unrouted", "unknown-number",
                           f"the receiving number {message.get('number') or '(unknown)'} "
                           f"(ICCID {message.get('iccid') or 'unknown'}) is not registered", None)
    if not number.enabled:
        return _not_routed("rejected", "number-disabled", f"number {number.msisdn} is disabled", number)

    if number.kind in DEDICATED_KINDS:
        owner = directory.customer(number.owner) if number.owner else None
        if owner is None:
            return _not_routed("unrouted", "no-owner", f"{number.kind} number {number.msisdn} has no owner", number)
        if not owner.enabled:
            return _not_routed("rejected", "owner-disabled",
                               f"customer {owner.login}, owner of {number.msisdn}, is disabled", number)
        if alphanumeric and kind != "undecodable":
            if number.kind == "virtual":
                return _not_routed("rejected", "alphanumeric-rejected",
                                   f"alphanumeric sender {sender!r} is not accepted on virtual number "
                                   f"{number.msisdn}", number)
            if number.kind == "hosted-company" and sender.casefold() not in number.whitelist:
                return _not_routed("rejected", "sender-not-whitelisted",
                                   f"sender {sender!r} is not on the whitelist of {number.msisdn}", number)
        return _routed(owner, "dedicated", f"{number.kind} number {number.msisdn} belongs to {owner.login}", number)

    # shared number
    if kind == "undecodable":
        return _not_routed("unrouted", "undecodable",
                           f"an undecodable message on shared number {number.msisdn} cannot be attributed", number)
    if alphanumeric:
        return _not_routed("rejected", "alphanumeric-rejected",
                           f"alphanumeric sender {sender!r} is not accepted on shared number {number.msisdn}",
                           number)
    prefix_note = ""
    text = message.get("text")
    if kind == "sms" and isinstance(text, str):
        found = _prefix(text)
        if found is not None:
            login, rest = found
            customer = directory.customer(login)
            if customer is not None and customer.enabled:
                return _routed(customer, "prefix", f"the text starts with the login prefix {customer.login!r}",
                               number, text_without_prefix=rest)
            state = "disabled" if customer is not None else "unknown"
            prefix_note = f"; the prefix names {state} login {login!r}"
    if sender == WITHHELD or message.get("sender_type") == WITHHELD:
        return _not_routed("unrouted", "withheld-no-reply",
                           f"a withheld caller on shared number {number.msisdn} cannot be attributed{prefix_note}",
                           number)
    send = directory.last_send(sender, now)
    if send is not None and now - send.at <= reply_window:
        customer = directory.customer(send.owner)
        if customer is not None and customer.enabled:
            return _routed(customer, "reply", f"{customer.login} sent to {sender} at {send.at.isoformat()}", number)
        prefix_note += f"; the last send to {sender} was by {send.owner}, who is disabled or unknown"
    elif send is not None:
        prefix_note += f"; the last send to {sender} was at {send.at.isoformat()}, older than {reply_window.days} days"
    code = "unknown-prefix-login" if prefix_note.startswith("; the prefix") else "no-match"
    return _not_routed("unrouted", code,
                       f"no prefix or recent send attributes this message from {sender} on shared number "
                       f"{number.msisdn}{prefix_note}", number)


def routed_payload(message: Mapping[str, Any], decision: Decision) -> dict[str, Any]:
    """The published payload: the inbound message's fields plus the decision (and the reason if not routed)."""
    out: dict[str, Any] = dict(message) if isinstance(message, Mapping) else {"raw": message}
    out["schema"] = SCHEMA_VERSION
    out["number"] = decision.number or out.get("number")
    out["number_kind"] = decision.number_kind
    out["owner"] = decision.owner
    out["rule"] = decision.rule
    out["status"] = decision.status
    if decision.text_without_prefix is not None:
        out["text_without_prefix"] = decision.text_without_prefix
    if decision.status != "routed":
        out["reason_code"] = decision.reason_code
        out["reason"] = decision.reason
    return out
