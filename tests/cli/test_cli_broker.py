"""A broker that cannot be reached is said once, in one line, and its return too; never silence."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.brokerlib import PrivateBroker

VENV_BIN = Path(sys.executable).parent
WAIT_S = 20.0
UNREACHABLE = "cannot reach the MQTT broker"


class Lines:
    """The stderr lines of a process, with a wait for a line containing a text."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def count(self, text: str) -> int:
        with self.cond:
            return sum(text in line for line in self.lines)

    def wait(self, text: str, times: int = 1) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: sum(text in line for line in self.lines) >= times, WAIT_S)


def test_an_unreachable_broker_is_said_once_and_its_return_too(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    subprocess.run([str(VENV_BIN / "simhost"), "--db", db, "db", "upgrade"], check=True, capture_output=True)
    broker = PrivateBroker()  # not started yet: nothing listens on its port
    proc = subprocess.Popen([str(VENV_BIN / "simhost"), "--db", db, "--mqtt", broker.url, "run", "--only",
                             "router"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines = Lines(proc)
    try:
        assert lines.wait(UNREACHABLE), lines.lines
        assert f"127.0.0.1:{broker.port}" in next(x for x in lines.lines if UNREACHABLE in x)
        broker.start()
        assert lines.wait("answers again"), lines.lines
        # the router's two clients each failed at least once: said once all the same
        back = next(x for x in lines.lines if "answers again" in x)
        assert int(back.split("after ")[1].split()[0]) >= 2, back
        assert lines.count(UNREACHABLE) == 1, lines.lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(WAIT_S)
        broker.close()
