"""`simhost run --only delivery` as a real process: SIGKILLed in the middle of a try, the next one loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from simhost.delivery.models import DELIVERED
from tests.cli.clilib import SIMHOST
from tests.delivery.deliverylib import receiver, site

FIRST_TIMEOUT_S = 2.0  # the lease of a row taken by a process that died is 3 timeouts + 5 s
SECOND_TIMEOUT_S = 5.0  # long enough that no try of the second process times out on a loaded machine
PROCESS_WAIT_S = 30.0


def _start(db_url: str, log: Path, timeout_s: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, SIMHOST_DELIVERY_ALLOW_PRIVATE="1", SIMHOST_DELIVERY_RETRY_S="0.05",
               SIMHOST_DELIVERY_TIMEOUT_S=str(timeout_s))
    with log.open("ab") as out:
        return subprocess.Popen([SIMHOST, "--db", db_url, "-v", "run", "--only", "delivery"], env=env,
                                stdout=out, stderr=out)


def test_a_delivery_process_killed_mid_try_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with receiver() as rec, site(tmp_path) as s:
        s.forward("acme", rec.url("/a"))
        s.forward("beta", rec.url("/b"))
        rec.scripts["/a"] = ["hold:30"]
        ids = [s.route(owner) for _ in range(10) for owner in ("acme", "beta")]
        first = _start(s.db_url, log, FIRST_TIMEOUT_S)
        try:
            assert rec.wait_until(lambda: len(rec.on("/a")) == 1 and len(rec.on("/b")) >= 3, PROCESS_WAIT_S), \
                log.read_text()
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(PROCESS_WAIT_S)
        held = rec.on("/a")[0].headers["Idempotency-Key"]
        assert s.delivery(held).state != DELIVERED
        # the held one, and any other the process had sent but not yet recorded when it was killed
        unrecorded = [m for m in set(rec.keys()) if s.delivery(m).state != DELIVERED]
        assert held in unrecorded
        rec.release.set()
        second = _start(s.db_url, log, SECOND_TIMEOUT_S)
        try:
            # those again once their leases ran out, and the rest
            assert rec.wait_until(lambda: set(rec.keys()) >= set(ids)
                                  and all(rec.keys().count(m) == 2 for m in unrecorded), PROCESS_WAIT_S), (
                log.read_text())
        finally:
            second.send_signal(signal.SIGTERM)  # it finishes the tries under way, then exits
            assert second.wait(PROCESS_WAIT_S) == 0, log.read_text()
        assert all(s.delivery(m).state == DELIVERED for m in ids), log.read_text()
    assert rec.keys("/a").count(held) == 2
