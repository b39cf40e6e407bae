"""Sends through a port worker on every profile: single and multipart, refused senders, transient and permanent
modem errors, idempotent repeats, the sent log, and receiving between parts."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from simhost.registry.models import SentLog
from simhost.sending.models import FAILED, SENT
from simhost.sending.requests import expire
from simhost.topics import Topics
from simhost_drivers.pdu import decode_pdu, join_text
from tests.sending.sendlib import PROFILES, RECIPIENT, WAIT_S, send_rig

LONG_GSM = "A long message in the GSM alphabet, three parts long; every part carries the same reference. " * 4
assert 306 < len(LONG_GSM) <= 459


def _texts(on_air: list[dict[str, object]]) -> str | None:
    return join_text([decode_pdu(str(p["pdu"])).to_json() for p in on_air])


@pytest.mark.parametrize("profile", PROFILES)
def test_a_single_sms_goes_out_and_enters_the_sent_log(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        row = rig.request("Hello from simhost")
        done = rig.wait_state(row.id, SENT)
        [sent] = rig.on_air()
        decoded = decode_pdu(sent["pdu"])
        assert (decoded.address.number, decoded.text) == (RECIPIENT, "Hello from simhost")
        assert decoded.status_report_requested
        assert [p.mr for p in rig.parts(row.id)] == [sent["mr"]]
        assert done.from_number == rig.number
        with sessionmaker(rig.engine)() as s:
            log = s.scalars(select(SentLog)).all()
        assert [(x.from_number, x.to_subscriber, x.source) for x in log] == [(rig.number, RECIPIENT, "port")]
        outcome = json.loads(next(o.payload for o in rig.outcomes if o.id == f"{row.id}:sent"))
        assert (outcome["state"], outcome["message_references"], outcome["parts"]) == ("sent", [sent["mr"]], 1)


@pytest.mark.parametrize("profile", PROFILES)
def test_three_gsm_parts_with_one_reference(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        row = rig.request(LONG_GSM)
        rig.wait_state(row.id, SENT)
        on_air = rig.on_air()
        concat = [decode_pdu(p["pdu"]).concat for p in on_air]
        assert [(c.total, c.seq) for c in concat if c] == [(3, 1), (3, 2), (3, 3)]
        assert len({c.ref for c in concat if c}) == 1
        assert _texts(on_air) == LONG_GSM
        assert [p.mr for p in rig.parts(row.id)] == [p["mr"] for p in on_air]


@pytest.mark.parametrize("profile", PROFILES)
def test_three_ucs2_parts_with_an_emoji_at_a_boundary(tmp_path: Path, profile: str) -> None:
    text = "Ж" * 66 + "😀" + "ж" * 66 + "🙂" + "конец"
    with send_rig(tmp_path, profile) as rig:
        row = rig.request(text)
        rig.wait_state(row.id, SENT)
        assert len(rig.on_air()) == 3
        assert _texts(rig.on_air()) == text


@pytest.mark.parametrize("profile", PROFILES)
def test_a_number_the_customer_may_not_use_is_refused_never_queued(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        refused = rig.request("from someone else's number", owner="beta")
        assert (refused.state, refused.reason_code) == (FAILED, "refused")
        assert "not beta's number" in (refused.reason or "")
        unknown = rig.request("from a number that is not ours", from_="+79990000000")
        assert (unknown.state, unknown.reason_code) == (FAILED, "refused")
        ok = rig.request("the customer's own")
        rig.wait_state(ok.id, SENT)
        assert len(rig.on_air()) == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_a_transient_error_is_tried_again(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        rig.modem.fault("cms-error", "42")  # congestion, on the next SMS command: the AT+CMGS
        row = rig.request("after a congestion")
        done = rig.wait_state(row.id, SENT)
        assert done.tries == 2
        assert len(rig.on_air()) == 1
        assert rig.worker.status.restarts == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_a_permanent_error_fails_the_send_with_its_code(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        rig.modem.fault("cms-error", "21")  # short message transfer rejected
        row = rig.request("rejected")
        failed = rig.wait_state(row.id, FAILED)
        assert failed.reason_code == "cms-21"
        assert rig.on_air() == []


@pytest.mark.parametrize("profile", PROFILES)
def test_a_repeated_id_is_the_same_send(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        first = rig.request("once only", client_id="order-17")
        again = rig.request("once only", client_id="order-17")
        assert again.id == first.id
        rig.wait_state(first.id, SENT)
        third = rig.request("once only", client_id="order-17")
        assert third.id == first.id
        rig.worker.notify_send_due()
        assert len(rig.on_air()) == 1


def test_receiving_goes_on_between_parts(tmp_path: Path) -> None:
    with send_rig(tmp_path, "ec25") as rig:
        stored = threading.Event()
        rig.worker.spool.on_new_message = lambda _rows: stored.set()
        row = rig.request(LONG_GSM * 3)
        assert row.parts == 8
        rig.modem.sms("+79035550001", "arrives while the parts go out")
        assert stored.wait(WAIT_S)
        done = rig.wait_state(row.id, SENT)
        assert len(rig.on_air()) == 8
        assert done.state == SENT
        # it was read between two parts, not after the whole send
        commands = [e["data"] for e in rig.modem.state()["at_log"] if e["dir"] == "rx"]
        sends = [i for i, c in enumerate(commands) if c.startswith("AT+CMGS=")]
        reads = [i for i, c in enumerate(commands) if c.startswith(("AT+CMGR=", "AT+CMGL=")) and i > sends[0]]
        assert reads, commands[sends[0]:]
        assert reads[0] < sends[-1], commands[sends[0]:]


def test_a_send_nobody_takes_expires(tmp_path: Path) -> None:
    with send_rig(tmp_path, "generic") as rig:
        rig.worker.stop()  # nobody drives the port now
        rig.worker.join()
        row = rig.request("too late")
        with sessionmaker(rig.engine, expire_on_commit=False).begin() as s:
            assert expire(s, Topics("t"), now=datetime.now(UTC) + timedelta(hours=25)) == 1
        done = rig.send_row(row.id)
        assert (done.state, done.reason_code) == (FAILED, "expired")


def test_a_sim_at_its_daily_limit_waits_for_the_next_day(tmp_path: Path) -> None:
    with send_rig(tmp_path, "sim800", send_daily_limit=1) as rig:
        first = rig.request("the one for today")
        rig.wait_state(first.id, SENT)
        second = rig.request("tomorrow's")
        with rig.cond:
            rig.cond.wait_for(lambda: rig.send_row(second.id).reason is not None, 5)
        waiting = rig.send_row(second.id)
        assert waiting.state == "queued"
        assert waiting.next_try_at.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=0)
        assert "1 parts for today" in (waiting.reason or "")
        assert len(rig.on_air()) == 1
