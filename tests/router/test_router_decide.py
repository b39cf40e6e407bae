"""Table tests of the pure routing decision and of the payload it publishes, on messages the gateway builds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simhost.gateway.message import build_call, build_sms, build_undecodable
from simhost.router.decide import REPLY_WINDOW, Decision, decide, routed_payload
from simhost.router.directory import CustomerEntry, Directory, NumberEntry, SendEntry
from simhost.topics import SCHEMA_VERSION

if TYPE_CHECKING:
    from simhost.gateway.spool import PortIdentity

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RECEIVED = NOW - timedelta(seconds=2)

SHARED = "+79000000001"
VIRTUAL = "+79000000002"
COMPANY = "+79000000003"
CLIENT = "+79000000004"
SHARED_OFF = "+79000000005"
VIRTUAL_OFF = "+79000000006"
ORPHAN = "+79000000007"  # virtual, no owner
GHOST = "+79000000008"  # virtual, owner login not registered
OFF_OWNER = "+79000000009"  # hosted-client of a disabled customer
UNKNOWN = "+79009999999"

NUMBERS = [
    NumberEntry(SHARED, "shared", None, True),
    NumberEntry(VIRTUAL, "virtual", "acme", True),
    NumberEntry(COMPANY, "hosted-company", "beta", True, whitelist=frozenset({"sberbank", "tinkoff"})),
    NumberEntry(CLIENT, "hosted-client", "beta", True),
    NumberEntry(SHARED_OFF, "shared", None, False),
    NumberEntry(VIRTUAL_OFF, "virtual", "acme", False),
    NumberEntry(ORPHAN, "virtual", None, True),
    NumberEntry(GHOST, "virtual", "nobody", True),
    NumberEntry(OFF_OWNER, "hosted-client", "gone", True),
]
ICCID = {n.msisdn: f"89701010000000000{i:03d}" for i, n in enumerate(NUMBERS)}
NUMBERS = [NumberEntry(n.msisdn, n.kind, n.owner, n.enabled, ICCID[n.msisdn], n.whitelist) for n in NUMBERS]
CUSTOMERS = [
    CustomerEntry("acme", True, True),
    CustomerEntry("beta", True, True),
    CustomerEntry("gone", False, True),
    CustomerEntry("Mixed.Case", True, False),
]

ALICE = "+79161111111"
BOB = "+79162222222"


def directory(*sends: SendEntry) -> Directory:
    return Directory.build(CUSTOMERS, NUMBERS, list(sends))


def sent(to: str, owner: str, ago: timedelta) -> SendEntry:
    return SendEntry(to, owner, NOW - ago)


@dataclass(frozen=True)
class _Port:
    """What the message builders read of a PortIdentity (importing the spool would load SQLAlchemy)."""

    port: str
    iccid: str
    msisdn: str | None


def _who(on: str | None, iccid: str | None) -> PortIdentity:
    return cast("PortIdentity", _Port("port01", iccid or ICCID.get(on or "", "89701019999999999999"), on))


def sms(on: str | None, sender: str | None, text: str | None = "hello", *, iccid: str | None = None,
        toa: str | None = None) -> dict[str, Any]:
    """An SMS as the gateway publishes it; the sender's type of number follows from its form unless given."""
    if toa is None and sender is not None:
        toa = "international" if sender.startswith("+") else "unknown" if sender.isdigit() else "alphanumeric"
    part = {"sender": sender, "sender_type": toa, "text": text, "timestamp": "2026-11-25T14:59:58+03:00", "dcs": 8}
    return build_sms("sms-1", _who(on, iccid), [part], ["07919730071111F1"], RECEIVED, "RU", missing=[])


def call(on: str | None, caller: str | None, *, iccid: str | None = None) -> dict[str, Any]:
    return build_call("call-1", _who(on, iccid), caller, 145 if caller else None, RECEIVED, "RU")


def undecodable(on: str | None) -> dict[str, Any]:
    return build_undecodable("bad-1", _who(on, None), "07FF", "truncated user data", RECEIVED)


Expected = tuple[str, str | None, str | None, str]
ROUTED_ACME_DEDICATED: Expected = ("routed", "acme", "dedicated", "dedicated")
ROUTED_BETA_DEDICATED: Expected = ("routed", "beta", "dedicated", "dedicated")
NO_MATCH: Expected = ("unrouted", None, None, "no-match")
ALNUM_REJECTED: Expected = ("rejected", None, None, "alphanumeric-rejected")


def check(decision: Decision, expected: Expected) -> None:
    assert (decision.status, decision.owner, decision.rule, decision.reason_code) == expected, decision.reason
    assert decision.reason.strip()
    assert "\n" not in decision.reason


def case(case_id: str, *values: Any) -> Any:
    return pytest.param(*values, id=case_id)


# ---- each number kind x each sender type -------------------------------------------------------------------------

KIND_MATRIX = [
    case("shared-international", sms(SHARED, ALICE), NO_MATCH),
    case("shared-short-code", sms(SHARED, "900"), NO_MATCH),
    case("shared-national", sms(SHARED, "89161111111", toa="unknown"), NO_MATCH),
    case("shared-alphanumeric", sms(SHARED, "VK"), ALNUM_REJECTED),
    case("virtual-international", sms(VIRTUAL, ALICE), ROUTED_ACME_DEDICATED),
    case("virtual-short-code", sms(VIRTUAL, "900"), ROUTED_ACME_DEDICATED),
    case("virtual-alphanumeric", sms(VIRTUAL, "Sberbank"), ALNUM_REJECTED),
    case("company-international", sms(COMPANY, ALICE), ROUTED_BETA_DEDICATED),
    case("company-short-code", sms(COMPANY, "900"), ROUTED_BETA_DEDICATED),
    case("company-alphanumeric-whitelisted", sms(COMPANY, "Sberbank"), ROUTED_BETA_DEDICATED),
    case("company-alphanumeric-not-whitelisted", sms(COMPANY, "VK"),
         ("rejected", None, None, "sender-not-whitelisted")),
    case("client-international", sms(CLIENT, ALICE), ROUTED_BETA_DEDICATED),
    case("client-short-code", sms(CLIENT, "900"), ROUTED_BETA_DEDICATED),
    case("client-alphanumeric", sms(CLIENT, "VK"), ROUTED_BETA_DEDICATED),
    case("client-alphanumeric-any-name", sms(CLIENT, "Some Shop"), ROUTED_BETA_DEDICATED),
]


@pytest.mark.parametrize(("message", "expected"), KIND_MATRIX)
def test_number_kind_and_sender_type(message: dict[str, Any], expected: Expected) -> None:
    d = decide(message, directory(), NOW)
    check(d, expected)
    assert d.number == message["number"]
    assert d.number_kind == next(n.kind for n in NUMBERS if n.msisdn == message["number"])


WHITELIST = [
    case("exact", "sberbank", True),
    case("capitalised", "Sberbank", True),
    case("upper-case", "SBERBANK", True),
    case("mixed-case", "TiNkOfF", True),
    case("other-name", "VK", False),
    case("name-is-a-prefix-of-an-approved-one", "Sber", False),
    case("approved-name-inside-a-longer-one", "Sberbank2", False),
]


@pytest.mark.parametrize(("name", "accepted"), WHITELIST)
def test_hosted_company_whitelist(name: str, accepted: bool) -> None:
    d = decide(sms(COMPANY, name), directory(), NOW)
    check(d, ROUTED_BETA_DEDICATED if accepted else ("rejected", None, None, "sender-not-whitelisted"))
    if not accepted:
        assert name in d.reason
        assert COMPANY in d.reason


def test_whitelist_of_one_number_does_not_open_another() -> None:
    check(decide(sms(VIRTUAL, "Sberbank"), directory(), NOW), ALNUM_REJECTED)
    check(decide(sms(SHARED, "Sberbank"), directory(), NOW), ALNUM_REJECTED)


# ---- rule 2: the `login: ` prefix on shared numbers --------------------------------------------------------------

PREFIXES = [
    case("plain", "acme: hello", (), ("routed", "acme", "prefix", "prefix"), "hello"),
    case("upper-case-login", "ACME: hello", (), ("routed", "acme", "prefix", "prefix"), "hello"),
    case("capitalised-login", "Acme: hello", (), ("routed", "acme", "prefix", "prefix"), "hello"),
    case("leading-spaces", "   acme: hello", (), ("routed", "acme", "prefix", "prefix"), "hello"),
    case("leading-newline-and-tab", "\n\tacme: hello", (), ("routed", "acme", "prefix", "prefix"), "hello"),
    case("login-as-registered", "mixed.case: hi", (), ("routed", "Mixed.Case", "prefix", "prefix"), "hi"),
    case("only-first-colon-space", "acme: re: hi", (), ("routed", "acme", "prefix", "prefix"), "re: hi"),
    case("second-space-kept", "acme:  hi", (), ("routed", "acme", "prefix", "prefix"), " hi"),
    case("multi-line-text", "beta: line 1\nline 2", (), ("routed", "beta", "prefix", "prefix"), "line 1\nline 2"),
    case("empty-after-prefix", "acme: ", (), ("routed", "acme", "prefix", "prefix"), ""),
    case("prefix-wins-over-reply", "beta: hi", (sent(ALICE, "acme", timedelta(hours=1)),),
         ("routed", "beta", "prefix", "prefix"), "hi"),
    case("no-space-is-no-prefix", "acme:hello", (), NO_MATCH, None),
    case("no-space-then-colon-space", "acme:hello: world", (), NO_MATCH, None),
    case("space-before-colon", "acme : hello", (), NO_MATCH, None),
    case("not-at-start", "hi acme: hello", (), NO_MATCH, None),
    case("no-space-falls-to-reply", "acme:hello", (sent(ALICE, "beta", timedelta(days=1)),),
         ("routed", "beta", "reply", "reply"), None),
    case("unknown-login", "nobody: hi", (), ("unrouted", None, None, "unknown-prefix-login"), None),
    case("disabled-login", "gone: hi", (), ("unrouted", None, None, "unknown-prefix-login"), None),
    case("unknown-login-falls-to-reply", "nobody: hi", (sent(ALICE, "acme", timedelta(days=2)),),
         ("routed", "acme", "reply", "reply"), None),
    case("disabled-login-falls-to-reply", "GONE: hi", (sent(ALICE, "beta", timedelta(days=2)),),
         ("routed", "beta", "reply", "reply"), None),
    case("unknown-login-stale-send", "nobody: hi", (sent(ALICE, "acme", timedelta(days=20)),),
         ("unrouted", None, None, "unknown-prefix-login"), None),
]


@pytest.mark.parametrize(("text", "sends", "expected", "without_prefix"), PREFIXES)
def test_prefix_rule(text: str, sends: tuple[SendEntry, ...], expected: Expected, without_prefix: str | None) -> None:
    d = decide(sms(SHARED, ALICE, text), directory(*sends), NOW)
    check(d, expected)
    assert d.text_without_prefix == without_prefix


@pytest.mark.parametrize(("text", "state"), [case("unknown", "nobody: hi", "unknown"),
                                              case("disabled", "gone: hi", "disabled")])
def test_failed_prefix_is_named_in_the_reason(text: str, state: str) -> None:
    d = decide(sms(SHARED, ALICE, text), directory(), NOW)
    assert f"{state} login" in d.reason
    assert text.split(":", maxsplit=1)[0] in d.reason


PREFIX_NOT_APPLIED = [
    case("dedicated-number", sms(VIRTUAL, ALICE, "beta: hi"), ROUTED_ACME_DEDICATED),
    case("alphanumeric-on-shared", sms(SHARED, "VK", "acme: hi"), ALNUM_REJECTED),
    case("call-text-looks-like-prefix", {**call(SHARED, ALICE), "text": "acme: [CALL]"}, NO_MATCH),
    case("sms-without-text", sms(SHARED, ALICE, None), NO_MATCH),
]


@pytest.mark.parametrize(("message", "expected"), PREFIX_NOT_APPLIED)
def test_prefix_rule_not_applied(message: dict[str, Any], expected: Expected) -> None:
    d = decide(message, directory(), NOW)
    check(d, expected)
    assert d.text_without_prefix is None


# ---- rule 3: reply attribution ------------------------------------------------------------------------------------

DAY = timedelta(days=1)
REPLIES = [
    case("recent", ALICE, (sent(ALICE, "acme", 3 * DAY),), ("routed", "acme", "reply", "reply")),
    case("exactly-14-days", ALICE, (sent(ALICE, "acme", 14 * DAY),), ("routed", "acme", "reply", "reply")),
    case("14-days-minus-1s", ALICE, (sent(ALICE, "acme", 14 * DAY - timedelta(seconds=1)),),
         ("routed", "acme", "reply", "reply")),
    case("14-days-plus-1s", ALICE, (sent(ALICE, "acme", 14 * DAY + timedelta(seconds=1)),), NO_MATCH),
    case("most-recent-wins", ALICE, (sent(ALICE, "acme", 3 * DAY), sent(ALICE, "beta", DAY)),
         ("routed", "beta", "reply", "reply")),
    case("most-recent-wins-listed-first", ALICE, (sent(ALICE, "beta", DAY), sent(ALICE, "acme", 3 * DAY)),
         ("routed", "beta", "reply", "reply")),
    case("most-recent-wins-by-a-second", ALICE,
         (sent(ALICE, "beta", DAY + timedelta(seconds=1)), sent(ALICE, "acme", DAY)),
         ("routed", "acme", "reply", "reply")),
    case("send-after-now-ignored", ALICE, (sent(ALICE, "acme", 3 * DAY), sent(ALICE, "beta", -timedelta(hours=1))),
         ("routed", "acme", "reply", "reply")),
    case("only-send-after-now", ALICE, (sent(ALICE, "acme", -timedelta(seconds=1)),), NO_MATCH),
    case("send-at-now", ALICE, (sent(ALICE, "acme", timedelta(0)),), ("routed", "acme", "reply", "reply")),
    case("most-recent-sender-disabled", ALICE, (sent(ALICE, "acme", 3 * DAY), sent(ALICE, "gone", DAY)), NO_MATCH),
    case("most-recent-sender-unregistered", ALICE, (sent(ALICE, "nobody", DAY),), NO_MATCH),
    case("sender-login-other-case", ALICE, (sent(ALICE, "MIXED.case", DAY),),
         ("routed", "Mixed.Case", "reply", "reply")),
    case("send-to-another-subscriber", BOB, (sent(ALICE, "acme", DAY),), NO_MATCH),
    case("no-sends", ALICE, (), NO_MATCH),
    case("short-code-subscriber", "900", (sent("900", "beta", DAY),), ("routed", "beta", "reply", "reply")),
]


@pytest.mark.parametrize(("sender", "sends", "expected"), REPLIES)
def test_reply_rule(sender: str, sends: tuple[SendEntry, ...], expected: Expected) -> None:
    d = decide(sms(SHARED, sender), directory(*sends), NOW)
    check(d, expected)
    assert (d.number, d.number_kind) == (SHARED, "shared")


@pytest.mark.parametrize(("window", "ago", "routed"), [
    case("2-days-window-inside", timedelta(days=2), 2 * DAY, True),
    case("2-days-window-outside", timedelta(days=2), 2 * DAY + timedelta(seconds=1), False),
    case("default-is-14-days", REPLY_WINDOW, 14 * DAY, True),
    case("30-days-window", timedelta(days=30), 20 * DAY, True),
])
def test_reply_window_is_configurable(window: timedelta, ago: timedelta, routed: bool) -> None:
    d = decide(sms(SHARED, ALICE), directory(sent(ALICE, "acme", ago)), NOW, reply_window=window)
    check(d, ("routed", "acme", "reply", "reply") if routed else NO_MATCH)


def test_sends_recorded_after_the_snapshot_was_built_count() -> None:
    d = directory()
    d.add_send(sent(ALICE, "beta", DAY))
    check(decide(sms(SHARED, ALICE), d, NOW), ("routed", "beta", "reply", "reply"))


# ---- calls and withheld callers -----------------------------------------------------------------------------------

CALLS = [
    case("shared-reply", call(SHARED, ALICE), (sent(ALICE, "acme", DAY),), ("routed", "acme", "reply", "reply")),
    case("shared-no-send", call(SHARED, ALICE), (), NO_MATCH),
    case("shared-stale-send", call(SHARED, ALICE), (sent(ALICE, "acme", 15 * DAY),), NO_MATCH),
    case("virtual", call(VIRTUAL, ALICE), (), ROUTED_ACME_DEDICATED),
    case("hosted-company", call(COMPANY, ALICE), (), ROUTED_BETA_DEDICATED),
    case("hosted-client", call(CLIENT, ALICE), (), ROUTED_BETA_DEDICATED),
    case("withheld-shared", call(SHARED, None), (), ("unrouted", None, None, "withheld-no-reply")),
    case("withheld-shared-even-with-a-send-to-withheld", call(SHARED, None), (sent("withheld", "acme", DAY),),
         ("unrouted", None, None, "withheld-no-reply")),
    case("withheld-virtual", call(VIRTUAL, None), (), ROUTED_ACME_DEDICATED),
    case("withheld-hosted-company", call(COMPANY, None), (), ROUTED_BETA_DEDICATED),
    case("withheld-disabled-number", call(SHARED_OFF, None), (), ("rejected", None, None, "number-disabled")),
    case("withheld-sms-shared", sms(SHARED, None), (sent("withheld", "acme", DAY),),
         ("unrouted", None, None, "withheld-no-reply")),
    case("withheld-sms-with-prefix", sms(SHARED, None, "acme: hi"), (), ("routed", "acme", "prefix", "prefix")),
    case("withheld-sms-unknown-prefix", sms(SHARED, None, "nobody: hi"), (),
         ("unrouted", None, None, "unknown-prefix-login")),
]


@pytest.mark.parametrize(("message", "sends", "expected"), CALLS)
def test_calls_and_withheld(message: dict[str, Any], sends: tuple[SendEntry, ...], expected: Expected) -> None:
    check(decide(message, directory(*sends), NOW), expected)


# ---- disabled, orphaned and unknown numbers -----------------------------------------------------------------------

NUMBER_STATES = [
    case("shared-disabled", sms(SHARED_OFF, ALICE, "acme: hi"), (sent(ALICE, "acme", DAY),),
         ("rejected", None, None, "number-disabled"), SHARED_OFF),
    case("virtual-disabled", sms(VIRTUAL_OFF, ALICE), (), ("rejected", None, None, "number-disabled"), VIRTUAL_OFF),
    case("owner-disabled", sms(OFF_OWNER, ALICE), (), ("rejected", None, None, "owner-disabled"), OFF_OWNER),
    case("owner-disabled-alphanumeric", sms(OFF_OWNER, "VK"), (), ("rejected", None, None, "owner-disabled"),
         OFF_OWNER),
    case("owner-disabled-call", call(OFF_OWNER, ALICE), (), ("rejected", None, None, "owner-disabled"), OFF_OWNER),
    case("dedicated-without-owner", sms(ORPHAN, ALICE), (), ("unrouted", None, None, "no-owner"), ORPHAN),
    case("dedicated-owner-unregistered", sms(GHOST, ALICE), (), ("unrouted", None, None, "no-owner"), GHOST),
    case("unknown-number", sms(UNKNOWN, ALICE), (), ("unrouted", None, None, "unknown-number"), None),
    case("unknown-number-call", call(UNKNOWN, ALICE), (), ("unrouted", None, None, "unknown-number"), None),
    case("no-number-unknown-iccid", sms(None, ALICE, iccid="89709999999999999999"), (),
         ("unrouted", None, None, "unknown-number"), None),
    case("number-by-iccid-shared", sms(None, ALICE, iccid=ICCID[SHARED]), (sent(ALICE, "acme", DAY),),
         ("routed", "acme", "reply", "reply"), SHARED),
    case("number-by-iccid-virtual", sms(None, ALICE, iccid=ICCID[VIRTUAL]), (), ROUTED_ACME_DEDICATED, VIRTUAL),
    case("number-by-iccid-call", call(None, ALICE, iccid=ICCID[CLIENT]), (), ROUTED_BETA_DEDICATED, CLIENT),
    case("unregistered-msisdn-known-iccid", sms(UNKNOWN, ALICE, iccid=ICCID[VIRTUAL]), (), ROUTED_ACME_DEDICATED,
         VIRTUAL),
    case("msisdn-wins-over-iccid", sms(CLIENT, ALICE, iccid=ICCID[VIRTUAL]), (), ROUTED_BETA_DEDICATED, CLIENT),
]


@pytest.mark.parametrize(("message", "sends", "expected", "resolved"), NUMBER_STATES)
def test_number_and_owner_states(message: dict[str, Any], sends: tuple[SendEntry, ...], expected: Expected,
                                 resolved: str | None) -> None:
    d = decide(message, directory(*sends), NOW)
    check(d, expected)
    assert d.number == resolved


# ---- undecodable messages -----------------------------------------------------------------------------------------

UNDECODABLE = [
    case("virtual", VIRTUAL, ROUTED_ACME_DEDICATED),
    case("hosted-company", COMPANY, ROUTED_BETA_DEDICATED),
    case("hosted-client", CLIENT, ROUTED_BETA_DEDICATED),
    case("shared", SHARED, ("unrouted", None, None, "undecodable")),
    case("disabled-number", VIRTUAL_OFF, ("rejected", None, None, "number-disabled")),
    case("disabled-owner", OFF_OWNER, ("rejected", None, None, "owner-disabled")),
    case("orphan", ORPHAN, ("unrouted", None, None, "no-owner")),
    case("unknown-number", UNKNOWN, ("unrouted", None, None, "unknown-number")),
]


@pytest.mark.parametrize(("on", "expected"), UNDECODABLE)
def test_undecodable(on: str, expected: Expected) -> None:
    check(decide(undecodable(on), directory(sent(ALICE, "acme", DAY)), NOW), expected)


# ---- malformed payloads -------------------------------------------------------------------------------------------

GOOD = sms(VIRTUAL, ALICE)
BAD = [
    case("not-a-mapping-list", [GOOD]),
    case("not-a-mapping-none", None),
    case("not-a-mapping-string", json.dumps(GOOD)),
    case("empty", {}),
    case("no-kind", {k: v for k, v in GOOD.items() if k != "kind"}),
    case("kind-unknown", {**GOOD, "kind": "fax"}),
    case("kind-upper-case", {**GOOD, "kind": "SMS"}),
    case("kind-number", {**GOOD, "kind": 1}),
    case("kind-list", {**GOOD, "kind": ["sms"]}),
    case("no-sender", {k: v for k, v in GOOD.items() if k != "sender"}),
    case("empty-sender", {**GOOD, "sender": ""}),
    case("sender-number", {**GOOD, "sender": 79161111111}),
    case("sender-dict", {**GOOD, "sender": {"a": 1}}),
    case("call-sender-null", {**call(VIRTUAL, ALICE), "sender": None}),
    case("text-number", {**GOOD, "text": 5}),
    case("number-number", {**GOOD, "number": 79000000002}),
    case("iccid-list", {**GOOD, "iccid": [ICCID[VIRTUAL]]}),
    case("sender-type-bool", {**GOOD, "sender_type": True}),
]


@pytest.mark.parametrize("message", BAD)
def test_bad_payload(message: Any) -> None:
    d = decide(message, directory(sent(ALICE, "acme", DAY)), NOW)
    check(d, ("unrouted", None, None, "bad-payload"))
    assert (d.number, d.number_kind) == (None, None)
    json.dumps(routed_payload(message, d))


def test_naive_now_is_taken_as_utc() -> None:
    d = decide(sms(SHARED, ALICE), directory(sent(ALICE, "acme", DAY)), NOW.replace(tzinfo=None))
    check(d, ("routed", "acme", "reply", "reply"))


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
LIKELY = st.sampled_from(["sms", "call", "undecodable", SHARED, VIRTUAL, COMPANY, ALICE, "withheld", "alphanumeric",
                          "acme: x", " beta: y", "VK", ICCID[SHARED], "[CALL]"])
KEYS = st.sampled_from(["id", "kind", "number", "iccid", "sender", "sender_type", "text", "parts", "x"])


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEYS, LIKELY | JSON_VALUES, max_size=8))
def test_random_payloads_never_raise(message: dict[str, Any]) -> None:
    before = json.dumps(message, sort_keys=True)
    d = decide(message, directory(sent(ALICE, "acme", DAY), sent("VK", "beta", DAY)), NOW)
    assert d.status in ("routed", "unrouted", "rejected")
    assert d.reason
    if d.status == "routed":
        assert d.owner is not None
        assert d.rule == d.reason_code
        assert d.rule in ("dedicated", "prefix", "reply")
    else:
        assert (d.owner, d.rule, d.text_without_prefix) == (None, None, None)
    json.dumps(routed_payload(message, d))
    assert json.dumps(message, sort_keys=True) == before


# ---- the reason names the facts -----------------------------------------------------------------------------------

REASONS = [
    case("dedicated", sms(VIRTUAL, ALICE), (), [VIRTUAL, ALICE, "acme", "virtual"]),
    case("prefix", sms(SHARED, BOB, "beta: hi"), (), [SHARED, BOB, "beta"]),
    case("reply", sms(SHARED, ALICE), (sent(ALICE, "acme", DAY),), [SHARED, ALICE, "acme", (NOW - DAY).isoformat()]),
    case("stale-send", sms(SHARED, ALICE), (sent(ALICE, "acme", 20 * DAY),),
         [SHARED, ALICE, (NOW - 20 * DAY).isoformat(), "14 days"]),
    case("disabled-reply-owner", sms(SHARED, ALICE), (sent(ALICE, "gone", DAY),), [ALICE, "gone", "disabled"]),
    case("no-send", sms(SHARED, BOB), (), [SHARED, BOB]),
    case("whitelist", sms(COMPANY, "VK"), (), [COMPANY, "VK", "whitelist"]),
    case("alphanumeric", sms(SHARED, "Megafon"), (), [SHARED, "Megafon"]),
    case("number-disabled", sms(VIRTUAL_OFF, ALICE), (), [VIRTUAL_OFF, "disabled"]),
    case("owner-disabled", sms(OFF_OWNER, ALICE), (), [OFF_OWNER, "gone", "disabled"]),
    case("no-owner", sms(ORPHAN, ALICE), (), [ORPHAN, "no owner"]),
    case("owner-unregistered", sms(GHOST, ALICE), (), [GHOST, "nobody"]),
    case("unknown-number", sms(UNKNOWN, ALICE, iccid="89709999999999999999"), (), [UNKNOWN, "89709999999999999999"]),
    case("withheld", call(SHARED, None), (), [SHARED, "withheld"]),
    case("undecodable", undecodable(SHARED), (), [SHARED, "undecodable"]),
    case("bad-payload", {**GOOD, "kind": "fax"}, (), ["kind", "fax"]),
]


@pytest.mark.parametrize(("message", "sends", "facts"), REASONS)
def test_reason_names_the_facts(message: dict[str, Any], sends: tuple[SendEntry, ...], facts: list[str]) -> None:
    reason = decide(message, directory(*sends), NOW).reason
    for fact in facts:
        assert fact in reason, (fact, reason)


# ---- the published payload ----------------------------------------------------------------------------------------

INBOUND_KEYS = {"schema", "id", "kind", "number", "port", "iccid", "received_at", "sender", "sender_type", "text",
                "sent_at", "parts", "incomplete"}


def publish(message: dict[str, Any], *sends: SendEntry) -> dict[str, Any]:
    payload = routed_payload(message, decide(message, directory(*sends), NOW))
    return dict(json.loads(json.dumps(payload, ensure_ascii=False)))


def test_routed_payload_keeps_the_message_and_adds_the_decision() -> None:
    message = sms(VIRTUAL, ALICE, "привет")
    payload = publish(message)
    assert {k: payload[k] for k in message} == message
    assert INBOUND_KEYS | {"owner", "number_kind", "rule", "pdus", "dcs"} <= payload.keys()
    assert (payload["owner"], payload["rule"], payload["number_kind"], payload["status"]) == \
        ("acme", "dedicated", "virtual", "routed")
    assert payload["schema"] == SCHEMA_VERSION
    assert "text_without_prefix" not in payload
    assert "reason" not in payload
    assert "reason_code" not in payload


def test_prefix_payload_keeps_text_whole_and_gives_it_without_prefix() -> None:
    payload = publish(sms(SHARED, BOB, "  Acme: take: this"))
    assert payload["text"] == "  Acme: take: this"
    assert payload["text_without_prefix"] == "take: this"
    assert (payload["owner"], payload["rule"], payload["number_kind"]) == ("acme", "prefix", "shared")


def test_reply_payload() -> None:
    payload = publish(call(SHARED, ALICE), sent(ALICE, "beta", DAY))
    assert (payload["kind"], payload["text"], payload["owner"], payload["rule"]) == ("call", "[CALL]", "beta", "reply")
    assert "text_without_prefix" not in payload


def test_payload_number_resolved_through_iccid() -> None:
    payload = publish(sms(None, ALICE, iccid=ICCID[CLIENT]))
    assert (payload["number"], payload["number_kind"], payload["iccid"]) == (CLIENT, "hosted-client", ICCID[CLIENT])


@pytest.mark.parametrize(("message", "status", "code"), [
    case("unrouted", sms(SHARED, BOB), "unrouted", "no-match"),
    case("rejected-alphanumeric", sms(SHARED, "VK"), "rejected", "alphanumeric-rejected"),
    case("rejected-disabled", sms(VIRTUAL_OFF, BOB), "rejected", "number-disabled"),
    case("unknown-number", sms(UNKNOWN, BOB), "unrouted", "unknown-number"),
    case("undecodable-shared", undecodable(SHARED), "unrouted", "undecodable"),
])
def test_unrouted_payload_carries_status_and_reason(message: dict[str, Any], status: str, code: str) -> None:
    payload = publish(message)
    assert {k: payload[k] for k in message if k != "number"} == {k: v for k, v in message.items() if k != "number"}
    assert (payload["status"], payload["reason_code"], payload["owner"], payload["rule"]) == (status, code, None, None)
    assert payload["reason"]
    assert payload["number"] == message["number"]


def test_payload_drops_a_stale_decision_from_the_inbound_message() -> None:
    message = {**sms(VIRTUAL, ALICE), "text_without_prefix": "x", "reason": "old", "reason_code": "old"}
    payload = publish(message)
    assert not {"text_without_prefix", "reason", "reason_code"} & payload.keys()


def test_payload_of_a_non_object_keeps_it_raw() -> None:
    d = decide(["x"], directory(), NOW)  # type: ignore[arg-type]
    payload = routed_payload(["x"], d)  # type: ignore[arg-type]
    assert payload["raw"] == ["x"]
    assert (payload["status"], payload["reason_code"]) == ("unrouted", "bad-payload")


def test_routed_payload_does_not_change_the_message() -> None:
    message = sms(SHARED, BOB, "acme: hi")
    before = json.dumps(message, sort_keys=True)
    routed_payload(message, decide(message, directory(), NOW))
    assert json.dumps(message, sort_keys=True) == before


# ---- consistency with the port named by the topic -------------------------------------------------------------

def ported(**ports: str) -> Directory:
    """The directory with some numbers registered on ports (`slot add --port`)."""
    numbers = [NumberEntry(n.msisdn, n.kind, n.owner, n.enabled, n.iccid, n.whitelist, port=ports.get(n.msisdn))
               for n in NUMBERS]
    return Directory.build(CUSTOMERS, numbers, [])


PORTS = {VIRTUAL: "port01", SHARED: "port02"}
MISMATCH: Expected = ("unrouted", None, None, "port-mismatch")


@pytest.mark.parametrize(("message", "topic_port", "expected"), [
    case("number-on-its-port", sms(VIRTUAL, ALICE), "port01", ROUTED_ACME_DEDICATED),
    case("number-on-another-port", sms(VIRTUAL, ALICE), "port02", MISMATCH),
    case("iccid-on-another-port", sms(None, ALICE, iccid=ICCID[VIRTUAL]), "port02", MISMATCH),
    case("payload-port-not-topic-port", {**sms(COMPANY, ALICE), "port": "port09"}, "port03", MISMATCH),
    case("number-of-another-sim", sms(VIRTUAL, ALICE, iccid=ICCID[COMPANY]), "port01", MISMATCH),
    case("number-with-an-unregistered-sim", sms(VIRTUAL, ALICE, iccid="89701019999999999999"), "port01", MISMATCH),
    case("port-unknown-to-the-registry", sms(COMPANY, "Sberbank"), "port07", ROUTED_BETA_DEDICATED),
    case("iccid-unknown-to-the-gateway", sms(VIRTUAL, ALICE, iccid="unknown"), "port01", ROUTED_ACME_DEDICATED),
    case("call-on-another-port", call(VIRTUAL, ALICE), "port02", MISMATCH),
])
def test_a_message_that_does_not_fit_its_port_is_unrouted(message: dict[str, Any], topic_port: str,
                                                           expected: Expected) -> None:
    message = {**message, "port": message["port"] if message["port"] != "port01" else topic_port}
    check(decide(message, ported(**PORTS), NOW, topic_port=topic_port), expected)


def test_mismatch_reason_names_the_facts() -> None:
    d = decide({**sms(VIRTUAL, ALICE), "port": "port02"}, ported(**PORTS), NOW, topic_port="port02")
    assert all(fact in d.reason for fact in (VIRTUAL, "port01", "port02")), d.reason
