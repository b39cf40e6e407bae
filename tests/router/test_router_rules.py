"""The routing decision, table by table: every rule of ARCHITECTURE.md §1 and its edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simhost.router.decide import decide, routed_payload
from simhost.router.directory import CustomerEntry, Directory, NumberEntry, SendEntry

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHARED, VIRTUAL, COMPANY, CLIENT, OFF, ORPHAN, OFF_OWNER = (
    "+79000000001", "+79000000002", "+79000000003", "+79000000004", "+79000000005", "+79000000006",
    "+79000000007")
ALICE, BOB = "+79161111111", "+79162222222"


def directory(*sends: SendEntry) -> Directory:
    customers = [CustomerEntry("acme", True, True), CustomerEntry("beta", True, True),
                 CustomerEntry("gone", False, True), CustomerEntry("Mixed.Case", True, True)]
    numbers = [
        NumberEntry(SHARED, "shared", None, True, iccid="89701010000000000005"),
        NumberEntry(VIRTUAL, "virtual", "acme", True),
        NumberEntry(COMPANY, "hosted-company", "beta", True, whitelist=frozenset({"sberbank"})),
        NumberEntry(CLIENT, "hosted-client", "beta", True),
        NumberEntry(OFF, "virtual", "acme", False),
        NumberEntry(ORPHAN, "virtual", None, True),
        NumberEntry(OFF_OWNER, "hosted-client", "gone", True),
    ]
    return Directory.build(customers, numbers, list(sends))


def sms(number: str | None, sender: str, text: str | None = "hello", **extra: Any) -> dict[str, Any]:
    sender_type = extra.pop("sender_type", "alphanumeric" if sender and not sender.lstrip("+").isdigit()
                            else "international")
    return {"id": "m1", "kind": "sms", "number": number, "iccid": None, "sender": sender,
            "sender_type": sender_type, "text": text, **extra}


def call(number: str, sender: str) -> dict[str, Any]:
    kind = "withheld" if sender == "withheld" else "international"
    return {"id": "c1", "kind": "call", "number": number, "iccid": None, "sender": sender,
            "sender_type": kind, "text": "[CALL]"}


ACME_TO_ALICE = SendEntry(ALICE, "acme", NOW - timedelta(days=3))

# (id, message, sends, expected (status, owner, rule, reason_code))
CASES: list[tuple[str, dict[str, Any], tuple[SendEntry, ...], tuple[str, str | None, str | None, str]]] = [
    # each number kind x numeric / alphanumeric sender
    ("shared-numeric-no-match", sms(SHARED, BOB), (), ("unrouted", None, None, "no-match")),
    ("shared-alphanumeric", sms(SHARED, "VK"), (), ("rejected", None, None, "alphanumeric-rejected")),
    ("virtual-numeric", sms(VIRTUAL, BOB), (), ("routed", "acme", "dedicated", "dedicated")),
    ("virtual-alphanumeric", sms(VIRTUAL, "VK"), (), ("rejected", None, None, "alphanumeric-rejected")),
    ("company-numeric", sms(COMPANY, BOB), (), ("routed", "beta", "dedicated", "dedicated")),
    ("company-whitelisted", sms(COMPANY, "Sberbank"), (), ("routed", "beta", "dedicated", "dedicated")),
    ("company-whitelist-case", sms(COMPANY, "SBERBANK"), (), ("routed", "beta", "dedicated", "dedicated")),
    ("company-not-whitelisted", sms(COMPANY, "VK"), (), ("rejected", None, None, "sender-not-whitelisted")),
    ("client-numeric", sms(CLIENT, BOB), (), ("routed", "beta", "dedicated", "dedicated")),
    ("client-alphanumeric", sms(CLIENT, "VK"), (), ("routed", "beta", "dedicated", "dedicated")),
    # prefix rule
    ("prefix", sms(SHARED, BOB, "acme: hi"), (), ("routed", "acme", "prefix", "prefix")),
    ("prefix-case", sms(SHARED, BOB, "ACME: hi"), (), ("routed", "acme", "prefix", "prefix")),
    ("prefix-leading-spaces", sms(SHARED, BOB, "   acme: hi"), (), ("routed", "acme", "prefix", "prefix")),
    ("prefix-login-with-dot", sms(SHARED, BOB, "mixed.case: hi"), (), ("routed", "Mixed.Case", "prefix", "prefix")),
    ("prefix-needs-space", sms(SHARED, BOB, "acme:hi"), (), ("unrouted", None, None, "no-match")),
    ("prefix-unknown-login", sms(SHARED, BOB, "nobody: hi"), (), ("unrouted", None, None, "unknown-prefix-login")),
    ("prefix-disabled-login", sms(SHARED, BOB, "gone: hi"), (), ("unrouted", None, None, "unknown-prefix-login")),
    ("prefix-unknown-falls-to-reply", sms(SHARED, ALICE, "nobody: hi"), (ACME_TO_ALICE,),
     ("routed", "acme", "reply", "reply")),
    ("prefix-wins-over-reply", sms(SHARED, ALICE, "beta: hi"), (ACME_TO_ALICE,),
     ("routed", "beta", "prefix", "prefix")),
    ("prefix-on-dedicated-ignored", sms(VIRTUAL, BOB, "beta: hi"), (), ("routed", "acme", "dedicated", "dedicated")),
    # reply rule
    ("reply", sms(SHARED, ALICE), (ACME_TO_ALICE,), ("routed", "acme", "reply", "reply")),
    ("reply-exactly-14-days", sms(SHARED, ALICE), (SendEntry(ALICE, "acme", NOW - timedelta(days=14)),),
     ("routed", "acme", "reply", "reply")),
    ("reply-14-days-and-1s", sms(SHARED, ALICE), (SendEntry(ALICE, "acme", NOW - timedelta(days=14, seconds=1)),),
     ("unrouted", None, None, "no-match")),
    ("reply-most-recent-wins", sms(SHARED, ALICE),
     (ACME_TO_ALICE, SendEntry(ALICE, "beta", NOW - timedelta(days=1))), ("routed", "beta", "reply", "reply")),
    ("reply-future-send-ignored", sms(SHARED, ALICE),
     (ACME_TO_ALICE, SendEntry(ALICE, "beta", NOW + timedelta(hours=1))), ("routed", "acme", "reply", "reply")),
    ("reply-to-disabled-customer", sms(SHARED, ALICE), (SendEntry(ALICE, "gone", NOW - timedelta(days=1)),),
     ("unrouted", None, None, "no-match")),
    ("reply-other-subscriber", sms(SHARED, BOB), (ACME_TO_ALICE,), ("unrouted", None, None, "no-match")),
    # calls
    ("call-shared-reply", call(SHARED, ALICE), (ACME_TO_ALICE,), ("routed", "acme", "reply", "reply")),
    ("call-no-prefix-rule", {**call(SHARED, BOB), "text": "acme: [CALL]"}, (),
     ("unrouted", None, None, "no-match")),
    ("call-withheld-shared", call(SHARED, "withheld"), (SendEntry("withheld", "acme", NOW - timedelta(days=1)),),
     ("unrouted", None, None, "withheld-no-reply")),
    ("call-withheld-dedicated", call(VIRTUAL, "withheld"), (), ("routed", "acme", "dedicated", "dedicated")),
    ("call-dedicated", call(CLIENT, BOB), (), ("routed", "beta", "dedicated", "dedicated")),
    # disabled, unknown, orphaned
    ("number-disabled", sms(OFF, BOB), (), ("rejected", None, None, "number-disabled")),
    ("owner-disabled", sms(OFF_OWNER, BOB), (), ("rejected", None, None, "owner-disabled")),
    ("dedicated-without-owner", sms(ORPHAN, BOB), (), ("unrouted", None, None, "no-owner")),
    ("unknown-number", sms("+79009999999", BOB), (), ("unrouted", None, None, "unknown-number")),
    ("number-by-iccid", {**sms(None, ALICE), "iccid": "89701010000000000005"}, (ACME_TO_ALICE,),
     ("routed", "acme", "reply", "reply")),
    # undecodable
    ("undecodable-dedicated", {"id": "u", "kind": "undecodable", "number": VIRTUAL, "text": None, "pdus": ["00"]},
     (), ("routed", "acme", "dedicated", "dedicated")),
    ("undecodable-shared", {"id": "u", "kind": "undecodable", "number": SHARED, "text": None, "pdus": ["00"]},
     (), ("unrouted", None, None, "undecodable")),
    # bad payloads
    ("bad-kind", {**sms(VIRTUAL, BOB), "kind": "fax"}, (), ("unrouted", None, None, "bad-payload")),
    ("bad-sender-type", {**sms(VIRTUAL, BOB), "sender": 42}, (), ("unrouted", None, None, "bad-payload")),
    ("no-sender", sms(VIRTUAL, ""), (), ("unrouted", None, None, "bad-payload")),
]


@pytest.mark.parametrize(("message", "sends", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(message: dict[str, Any], sends: tuple[SendEntry, ...],
              expected: tuple[str, str | None, str | None, str]) -> None:
    d = decide(message, directory(*sends), NOW)
    assert (d.status, d.owner, d.rule, d.reason_code) == expected, d.reason
    assert d.reason


def test_prefix_keeps_text_and_gives_it_without_prefix() -> None:
    message = sms(SHARED, BOB, "  Acme: take: this")
    d = decide(message, directory(), NOW)
    payload = routed_payload(message, d)
    assert payload["text"] == "  Acme: take: this"
    assert payload["text_without_prefix"] == "take: this"
    assert (payload["owner"], payload["rule"], payload["number_kind"]) == ("acme", "prefix", "shared")
    assert "reason" not in payload


def test_unrouted_payload_carries_reason() -> None:
    message = sms(COMPANY, "VK")
    payload = routed_payload(message, decide(message, directory(), NOW))
    assert payload["status"] == "rejected"
    assert payload["reason_code"] == "sender-not-whitelisted"
    assert "VK" in payload["reason"]
    assert payload["owner"] is None
    assert payload["id"] == "m1"


def test_reply_window_is_configurable() -> None:
    d = decide(sms(SHARED, ALICE), directory(ACME_TO_ALICE), NOW, reply_window=timedelta(days=2))
    assert d.reason_code == "no-match"
    assert "older than 2 days" in d.reason


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3),
                           max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "kind", "number", "iccid", "sender", "sender_type", "text"]),
                       json_values | st.sampled_from(["sms", "call", "undecodable", SHARED, VIRTUAL, "acme: x"])))
def test_random_payloads_never_raise(message: dict[str, Any]) -> None:
    d = decide(message, directory(ACME_TO_ALICE), NOW)
    assert d.status in ("routed", "unrouted", "rejected")
    routed_payload(message, d)
