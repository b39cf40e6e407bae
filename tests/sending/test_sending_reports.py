"""Status reports settle sends on every profile: +CDS or +CDSI (in SR on the EC25), one per part, delivered or
failed; a report that matches no send is published for operators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from simhost.gateway.spool import OUTBOX
from simhost.sending.models import DELIVERED, FAILED
from tests.sending.sendlib import PROFILES, RECIPIENT, send_rig

LONG = "A three-part message whose delivery is reported part by part, each under its own reference. " * 4


@pytest.mark.parametrize("profile", PROFILES)
def test_a_delivered_report_settles_the_send(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        row = rig.request("please report")
        done = rig.wait_state(row.id, DELIVERED)
        assert done.reason_code is None
        [part] = rig.parts(row.id)
        assert (part.state, part.status) == (DELIVERED, 0)
        assert rig.worker.status.restarts == 0


@pytest.mark.parametrize("profile", ["generic", "ec25"])
def test_each_part_is_reported_and_the_send_is_delivered_once_all_are(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        row = rig.request(LONG)
        assert row.parts == 3
        rig.wait_state(row.id, DELIVERED)
        assert [p.state for p in rig.parts(row.id)] == [DELIVERED] * 3


@pytest.mark.parametrize("profile", PROFILES)
def test_a_report_routed_to_the_terminal_as_cds_settles_the_send(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile, cnmi="2,1,0,1,0") as rig:  # <ds>=1: +CDS with the PDU, acknowledged
        row = rig.request("reported as +CDS")
        rig.wait_state(row.id, DELIVERED)
        commands = [e["data"] for e in rig.modem.state()["at_log"] if e["dir"] == "rx"]
        assert "AT+CNMI=2,1,0,1,0" in commands
        assert not any(c.startswith("AT+CMGR") for c in commands)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_failed_report_fails_the_send(tmp_path: Path, profile: str) -> None:
    with send_rig(tmp_path, profile) as rig:
        rig.modem.report("failed", to=RECIPIENT)
        row = rig.request("to an incompatible destination")
        failed = rig.wait_state(row.id, FAILED)
        assert failed.reason_code == "undelivered"
        assert "0x41" in (failed.reason or "")


def test_a_report_that_matches_no_send_is_published_for_operators(tmp_path: Path) -> None:
    with send_rig(tmp_path, "ec25", sweep_interval_s=0.3) as rig:
        rig.modem.store("SR", "+79035550009")  # a report about a message simhost never sent
        with rig.cond:
            rig.cond.wait_for(lambda: _unmatched(rig) != [], 10)
        [payload] = _unmatched(rig)
        assert (payload["reason_code"], payload["recipient"]) == ("unmatched-report", "+79035550009")


def _unmatched(rig: object) -> list[dict[str, object]]:
    engine = rig.engine  # type: ignore[attr-defined]
    with sessionmaker(engine)() as s:
        payloads = s.execute(select(OUTBOX.c.payload).where(OUTBOX.c.kind == "report")).scalars().all()
    return [json.loads(p) for p in payloads]
