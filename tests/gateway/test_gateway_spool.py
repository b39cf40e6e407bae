"""The spool: idempotent storage, persistent multipart reassembly in any order, incomplete messages after the
timeout, undecodable PDUs kept and published, status reports kept apart."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hwsim.sms import encode_deliver
from simhost.db import make_engine, make_sessions, upgrade
from simhost.gateway.spool import PortIdentity, Spool
from simhost.models import StatusReport, utcnow
from simhost.topics import Topics

WHO = PortIdentity("port01", "89701010000000000005", "+79001234567")
SENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LONG = "Часть длинного сообщения, которое не помещается в одну SMS. " * 3


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/spool.db"
    upgrade(url)
    return url


def make_spool(url: str, **options: Any) -> Spool:
    return Spool(make_engine(url), Topics("t"), "RU", **options)


def payloads(spool: Spool) -> list[dict[str, Any]]:
    return [json.loads(r.payload) for r in spool.pending(1000, set())]


def test_single_part_is_idempotent(db_url: str) -> None:
    spool = make_spool(db_url)
    pdu = encode_deliver("+79161234567", "привет")[0]
    first = spool.store_pdu(WHO, pdu)
    again = spool.store_pdu(WHO, pdu.lower())
    assert first.message_id is not None
    assert again.duplicate
    [p] = payloads(spool)
    assert (p["id"], p["text"], p["sender"], p["kind"], p["pdus"]) == (first.message_id, "привет", "+79161234567",
                                                                      "sms", [pdu])


@pytest.mark.parametrize("bits", [8, 16])
def test_parts_in_any_order_with_duplicates_across_restarts(db_url: str, bits: int) -> None:
    pdus = encode_deliver("+79161234567", LONG, concat_bits=bits, reference=77)
    assert len(pdus) == 3
    order = [pdus[2], pdus[0], pdus[2]]
    spool = make_spool(db_url)
    results = [spool.store_pdu(WHO, p) for p in order]
    assert [r.message_id for r in results] == [None, None, None]
    assert results[2].duplicate
    # a new process (restart) finds the parts it kept
    spool = make_spool(db_url)
    done = spool.store_pdu(WHO, pdus[1])
    assert done.message_id is not None
    [p] = payloads(spool)
    assert p["text"] == LONG
    assert (p["parts"], p["incomplete"], p["pdus"]) == (3, False, pdus)


def test_many_messages_pending_at_once_interleaved(db_url: str) -> None:
    spool = make_spool(db_url)
    messages = {f"+7916000000{k}": f"{k}: " + LONG for k in range(5)}
    all_parts = [(sender, p) for sender, text in messages.items()
                 for p in encode_deliver(sender, text, reference=9)]  # same reference, different senders
    random.Random(3).shuffle(all_parts)
    done = [r.message_id for r in spool.store_pdus(WHO, [p for _s, p in all_parts]) if r.message_id]
    assert len(done) == len(messages)
    assert sorted(p["text"] for p in payloads(spool)) == sorted(messages.values())


def test_same_content_on_another_sim_is_another_message(db_url: str) -> None:
    spool = make_spool(db_url)
    pdu = encode_deliver("+79161234567", "hello")[0]
    a = spool.store_pdu(WHO, pdu)
    b = spool.store_pdu(PortIdentity("port02", "89701010000000000013", None), pdu)
    assert a.message_id != b.message_id
    assert len(payloads(spool)) == 2


@pytest.mark.parametrize("one_sweep", [False, True])
def test_reused_reference_gives_two_messages_not_one(db_url: str, one_sweep: bool) -> None:
    """A sender that reuses a concatenation reference (8-bit refs wrap after 256 messages) while an earlier
    message with it is still incomplete: each part goes to one message, none is swallowed by the other."""
    first = encode_deliver("+79161234567", "A " + LONG, reference=200, scts=SENT)
    second = encode_deliver("+79161234567", "B " + LONG, reference=200, scts=SENT + timedelta(minutes=1))
    assert len(first) == len(second) == 3
    interleaved = [first[0], second[0], first[1], second[1], first[2], second[2]]
    spool = make_spool(db_url)
    results = spool.store_pdus(WHO, interleaved) if one_sweep else [spool.store_pdu(WHO, p) for p in interleaved]
    assert sum(1 for r in results if r.message_id) == 2
    assert sorted(p["text"] for p in payloads(spool)) == sorted(["A " + LONG, "B " + LONG])
    assert all(not p["incomplete"] for p in payloads(spool))


def test_newer_message_under_a_reused_reference_does_not_wait_for_an_older_incomplete_one(db_url: str) -> None:
    spool = make_spool(db_url)
    lost_rest = encode_deliver("+79161234567", "A " + LONG, reference=9, scts=SENT)
    spool.store_pdu(WHO, lost_rest[0])
    newer = encode_deliver("+79161234567", "B " + LONG, reference=9, scts=SENT + timedelta(days=3))
    results = spool.store_pdus(WHO, newer)
    assert results[-1].message_id is not None
    assert [p["text"] for p in payloads(spool)] == ["B " + LONG]


def test_expiry_keeps_a_recent_part_under_the_same_reference(db_url: str) -> None:
    spool = make_spool(db_url)
    old = encode_deliver("+79161234567", "A " + LONG, reference=9, scts=SENT)
    spool.store_pdu(WHO, old[0])
    between = utcnow()
    recent = encode_deliver("+79161234567", "B " + LONG, reference=9, scts=SENT + timedelta(days=1))
    spool.store_pdu(WHO, recent[1])
    spool.store_pdu(WHO, recent[0])
    # a day after the old part but not the recent ones: the old part goes alone, the recent ones wait
    [expired] = spool.expire_incomplete(between + timedelta(hours=24))
    done = spool.store_pdu(WHO, recent[2])
    assert done.message_id is not None
    assert done.message_id != expired
    texts = {p["id"]: (p["text"], p["incomplete"]) for p in payloads(spool)}
    assert texts[done.message_id] == ("B " + LONG, False)
    assert texts[expired][1] is True


def test_incomplete_after_timeout_names_missing_parts(db_url: str) -> None:
    spool = make_spool(db_url)
    pdus = encode_deliver("+79161234567", LONG, reference=5)
    spool.store_pdu(WHO, pdus[0])
    spool.store_pdu(WHO, pdus[2])
    assert spool.expire_incomplete() == []  # not yet 24 h old
    [message_id] = spool.expire_incomplete(utcnow() + timedelta(hours=24, seconds=1))
    [p] = payloads(spool)
    assert p["id"] == message_id
    assert (p["incomplete"], p["missing_parts"], p["parts"]) == (True, [2], 3)
    # the late part does not publish the message a second time
    late = spool.store_pdu(WHO, pdus[1])
    assert late.message_id is None or late.message_id != message_id
    assert [x["id"] for x in payloads(spool)].count(message_id) == 1


def test_undecodable_pdu_is_kept_and_published(db_url: str) -> None:
    spool = make_spool(db_url)
    result = spool.store_pdu(WHO, "0791FFFF")
    assert result.kind == "undecodable"
    [p] = payloads(spool)
    assert (p["kind"], p["pdus"], p["text"]) == ("undecodable", ["0791FFFF"], None)
    assert p["error"]


def test_status_report_kept_not_published(db_url: str) -> None:
    spool = make_spool(db_url)
    # SMS-STATUS-REPORT: MR 0x2A to +79161234567, delivered (TP-ST 0)
    report = "00" + "06" + "2A" + "0B91" + "9761214365F7" + "52115221000000" + "52115221001000" + "00"
    result = spool.store_pdu(WHO, report)
    assert result.kind == "status-report"
    assert payloads(spool) == []
    with make_sessions(spool.engine)() as s:
        assert s.get(StatusReport, result.part_id) is not None


def _truncated(pdu: str, octets: int) -> str:
    """`pdu` with its last `octets` octets cut off (TP-UDL then promises more than the PDU holds)."""
    return pdu[:-2 * octets]


@pytest.mark.parametrize("text", ["a truncated message in GSM 7-bit", "усечённое сообщение в UCS2"])
def test_a_truncated_pdu_is_never_published_as_a_complete_sms(db_url: str, text: str) -> None:
    spool = make_spool(db_url)
    pdu = _truncated(encode_deliver("+79161234567", text)[0], 5)
    spool.store_pdu(WHO, pdu)
    [p] = payloads(spool)
    assert p["truncated"] is True
    assert p["truncated_parts"] == [1]
    assert p["pdus"] == [pdu]
    assert p["text"] != text


def test_a_truncated_part_flags_the_whole_message(db_url: str) -> None:
    spool = make_spool(db_url)
    pdus = encode_deliver("+79161234567", LONG, reference=9)
    pdus[1] = _truncated(pdus[1], 3)
    for pdu in pdus:
        spool.store_pdu(WHO, pdu)
    [p] = payloads(spool)
    assert (p["truncated"], p["truncated_parts"], p["parts"], p["incomplete"]) == (True, [2], 3, False)


def test_a_whole_pdu_is_not_flagged(db_url: str) -> None:
    spool = make_spool(db_url)
    spool.store_pdu(WHO, encode_deliver("+79161234567", "whole")[0])
    [p] = payloads(spool)
    assert "truncated" not in p
